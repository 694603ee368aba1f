//! Status codes and their reason phrases: every code in IANA's HTTP
//! Status Code Registry (RFC 9110 §15 and the RFCs it lists).

use std::fmt;

/// An HTTP status code, 100–599: the range RFC 9110 §15 defines (a
/// client reads any other as a server error).
///
/// ```
/// use peregrine::StatusCode;
/// assert_eq!(StatusCode::NOT_FOUND.as_u16(), 404);
/// assert_eq!(StatusCode::NOT_FOUND.reason(), "Not Found");
/// assert_eq!(StatusCode::from_u16(599).unwrap().reason(), "");
/// assert_eq!(StatusCode::from_u16(600), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

macro_rules! codes {
    ($($name:ident = $code:literal $reason:literal;)*) => {
        impl StatusCode {
            $(
                #[doc = concat!("`", $code, " ", $reason, "`")]
                pub const $name: StatusCode = StatusCode($code);
            )*

            /// The standard reason phrase, or `""` for an unregistered code.
            pub const fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $reason,)*
                    _ => "",
                }
            }
        }
    };
}

codes! {
    CONTINUE = 100 "Continue";
    SWITCHING_PROTOCOLS = 101 "Switching Protocols";
    PROCESSING = 102 "Processing";
    EARLY_HINTS = 103 "Early Hints";
    OK = 200 "OK";
    CREATED = 201 "Created";
    ACCEPTED = 202 "Accepted";
    NON_AUTHORITATIVE_INFORMATION = 203 "Non-Authoritative Information";
    NO_CONTENT = 204 "No Content";
    RESET_CONTENT = 205 "Reset Content";
    PARTIAL_CONTENT = 206 "Partial Content";
    MULTI_STATUS = 207 "Multi-Status";
    ALREADY_REPORTED = 208 "Already Reported";
    IM_USED = 226 "IM Used";
    MULTIPLE_CHOICES = 300 "Multiple Choices";
    MOVED_PERMANENTLY = 301 "Moved Permanently";
    FOUND = 302 "Found";
    SEE_OTHER = 303 "See Other";
    NOT_MODIFIED = 304 "Not Modified";
    USE_PROXY = 305 "Use Proxy";
    TEMPORARY_REDIRECT = 307 "Temporary Redirect";
    PERMANENT_REDIRECT = 308 "Permanent Redirect";
    BAD_REQUEST = 400 "Bad Request";
    UNAUTHORIZED = 401 "Unauthorized";
    PAYMENT_REQUIRED = 402 "Payment Required";
    FORBIDDEN = 403 "Forbidden";
    NOT_FOUND = 404 "Not Found";
    METHOD_NOT_ALLOWED = 405 "Method Not Allowed";
    NOT_ACCEPTABLE = 406 "Not Acceptable";
    PROXY_AUTHENTICATION_REQUIRED = 407 "Proxy Authentication Required";
    REQUEST_TIMEOUT = 408 "Request Timeout";
    CONFLICT = 409 "Conflict";
    GONE = 410 "Gone";
    LENGTH_REQUIRED = 411 "Length Required";
    PRECONDITION_FAILED = 412 "Precondition Failed";
    PAYLOAD_TOO_LARGE = 413 "Content Too Large";
    URI_TOO_LONG = 414 "URI Too Long";
    UNSUPPORTED_MEDIA_TYPE = 415 "Unsupported Media Type";
    RANGE_NOT_SATISFIABLE = 416 "Range Not Satisfiable";
    EXPECTATION_FAILED = 417 "Expectation Failed";
    IM_A_TEAPOT = 418 "I'm a teapot";
    MISDIRECTED_REQUEST = 421 "Misdirected Request";
    UNPROCESSABLE_CONTENT = 422 "Unprocessable Content";
    LOCKED = 423 "Locked";
    FAILED_DEPENDENCY = 424 "Failed Dependency";
    TOO_EARLY = 425 "Too Early";
    UPGRADE_REQUIRED = 426 "Upgrade Required";
    PRECONDITION_REQUIRED = 428 "Precondition Required";
    TOO_MANY_REQUESTS = 429 "Too Many Requests";
    REQUEST_HEADER_FIELDS_TOO_LARGE = 431 "Request Header Fields Too Large";
    UNAVAILABLE_FOR_LEGAL_REASONS = 451 "Unavailable For Legal Reasons";
    INTERNAL_SERVER_ERROR = 500 "Internal Server Error";
    NOT_IMPLEMENTED = 501 "Not Implemented";
    BAD_GATEWAY = 502 "Bad Gateway";
    SERVICE_UNAVAILABLE = 503 "Service Unavailable";
    GATEWAY_TIMEOUT = 504 "Gateway Timeout";
    HTTP_VERSION_NOT_SUPPORTED = 505 "HTTP Version Not Supported";
    VARIANT_ALSO_NEGOTIATES = 506 "Variant Also Negotiates";
    INSUFFICIENT_STORAGE = 507 "Insufficient Storage";
    LOOP_DETECTED = 508 "Loop Detected";
    NOT_EXTENDED = 510 "Not Extended";
    NETWORK_AUTHENTICATION_REQUIRED = 511 "Network Authentication Required";
}

impl StatusCode {
    /// A status from its number; `None` outside 100–599.
    pub const fn from_u16(code: u16) -> Option<StatusCode> {
        if code >= 100 && code <= 599 {
            Some(StatusCode(code))
        } else {
            None
        }
    }

    /// The number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether a response with this status never carries a body or a
    /// `Content-Length` (1xx, 204; RFC 9110 §8.6).
    pub(crate) const fn forbids_content_length(self) -> bool {
        self.0 < 200 || self.0 == 204
    }

    /// Whether a response with this status never carries a body (1xx,
    /// 204, 205, 304). A 205 says so with `Content-Length: 0` (RFC 9110
    /// §15.3.6).
    pub(crate) const fn forbids_body(self) -> bool {
        self.forbids_content_length() || self.0 == 205 || self.0 == 304
    }

    /// Whether this is a 2xx.
    pub(crate) const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }
}

impl Default for StatusCode {
    fn default() -> Self {
        StatusCode::OK
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_bodies() {
        assert!(StatusCode::from_u16(99).is_none());
        assert!(StatusCode::from_u16(600).is_none(), "RFC 9110 §15: 100–599");
        assert!(StatusCode::from_u16(599).is_some() && StatusCode::from_u16(100).is_some());
        assert!(StatusCode::NO_CONTENT.forbids_body());
        assert!(
            StatusCode::RESET_CONTENT.forbids_body() && !StatusCode::RESET_CONTENT.forbids_content_length()
        );
        assert!(StatusCode::NOT_MODIFIED.forbids_body());
        assert!(!StatusCode::NOT_MODIFIED.forbids_content_length());
        assert!(!StatusCode::OK.forbids_body());
        assert_eq!(StatusCode::OK.to_string(), "200 OK");
    }

    #[test]
    fn every_registered_code_has_its_reason() {
        // IANA's HTTP Status Code Registry, as of RFC 9110 (306 and 418
        // are reserved there; 418 keeps its well-known phrase).
        let registered = [
            100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
            305, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,
            416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505,
            506, 507, 508, 510, 511,
        ];
        for code in registered {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!status.reason().is_empty(), "{code} has no reason phrase");
        }
        assert_eq!(StatusCode::from_u16(306).unwrap().reason(), "");
    }
}
