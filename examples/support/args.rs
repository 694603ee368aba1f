//! Command-line flags shared by the examples: `--port N`, `--workers N`,
//! `--ip ADDR` (default 127.0.0.1), plus whatever flags an example adds;
//! and serving, on a socket-activated listener when one was passed.

use std::io::Write as _;
use std::process::exit;

/// Parsed flags.
pub struct Args {
    pub ip: std::net::IpAddr,
    pub port: u16,
    pub workers: Option<usize>,
    /// Flags the example itself reads, as `(name, value)`.
    pub extra: Vec<(String, String)>,
}

/// Parses `std::env::args()`, exiting with a usage message on a bad flag.
/// `extra` names the example's own flags (each takes a value).
#[allow(dead_code)] // examples with switches use `parse_with_switches`
pub fn parse(default_port: u16, extra: &[&str]) -> Args {
    parse_with_switches(default_port, extra, &[])
}

/// As [`parse`], with `switches`: flags of the example's own that take no
/// value (present or not; [`Args::switch`] says which).
pub fn parse_with_switches(default_port: u16, extra: &[&str], switches: &[&str]) -> Args {
    let mut args = Args { ip: [127, 0, 0, 1].into(), port: default_port, workers: None, extra: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            usage(default_port, extra, switches, 0);
        }
        if switches.contains(&flag.as_str()) {
            args.extra.push((flag, String::new()));
            continue;
        }
        if !flag.starts_with("--") {
            eprintln!("error: unexpected argument {flag:?} (flags start with --)");
            usage(default_port, extra, switches, 2);
        }
        let Some(value) = it.next() else {
            eprintln!("error: {flag} needs a value");
            usage(default_port, extra, switches, 2);
        };
        match flag.as_str() {
            "--ip" => args.ip = number(&flag, &value),
            "--port" => args.port = number(&flag, &value),
            "--workers" => args.workers = Some(number(&flag, &value)),
            f if extra.contains(&f) => args.extra.push((flag, value)),
            _ => {
                eprintln!("error: unknown flag {flag}");
                usage(default_port, extra, switches, 2);
            }
        }
    }
    args
}

impl Args {
    /// The value of one of the example's own flags, if given.
    #[allow(dead_code)] // not every example has flags of its own
    pub fn extra(&self, flag: &str) -> Option<&str> {
        self.extra.iter().rev().find(|(f, _)| f == flag).map(|(_, v)| v.as_str())
    }

    /// Whether one of the example's switches was given.
    #[allow(dead_code)] // not every example has switches
    pub fn switch(&self, flag: &str) -> bool {
        self.extra.iter().any(|(f, _)| f == flag)
    }

    /// The base config: the address, the worker count if given.
    pub fn config(&self) -> peregrine::Config {
        let config = peregrine::Config::new().ip(self.ip).port(self.port);
        match self.workers {
            Some(n) => config.workers(n),
            None => config,
        }
    }
}

/// Parses a flag's value, exiting with a message if it does not parse.
pub fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| {
        eprintln!("error: {flag} cannot take {value:?}");
        exit(2)
    })
}

fn usage(default_port: u16, extra: &[&str], switches: &[&str], code: i32) -> ! {
    let name = std::env::args().next().unwrap_or_default();
    let mut line =
        format!("usage: {name} [--ip ADDR (default 127.0.0.1)] [--port N (default {default_port})] [--workers N (default: cores)]");
    for f in extra {
        line.push_str(&format!(" [{f} VALUE]"));
    }
    for f in switches {
        line.push_str(&format!(" [{f}]"));
    }
    eprintln!("{line}");
    exit(code)
}

/// Binds, prints the address, runs; prints a start-up error and exits 1.
/// What the server reports through the `log` facade at warning level and
/// above (a handler's panic, a descriptor shortage, an access log that
/// does not keep up) goes to standard error meanwhile, as to nginx's
/// error log; an application installs a logger of its choice instead.
pub fn serve<H: peregrine::Handler>(config: peregrine::Config, handler: H) {
    #[cfg(feature = "log")]
    log_warnings_to_stderr();
    let server = match bind(config, handler) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    };
    // Where output goes is the caller's affair: a closed or full stdout
    // is no reason not to serve (println! would panic).
    let _ = writeln!(std::io::stdout(), "listening on http://{}", server.local_addr());
    if let Err(e) = server.run() {
        eprintln!("error: {e}");
        exit(1)
    }
}

/// Serves on the socket a service manager passed (`LISTEN_FDS`, e.g.
/// `systemd-socket-activate -l 127.0.0.1:8080 target/release/examples/hello`),
/// else binds `config`'s address.
fn bind<H: peregrine::Handler>(
    config: peregrine::Config,
    handler: H,
) -> Result<peregrine::Server<H>, peregrine::Error> {
    let mut passed = peregrine::activation::listeners()?;
    match passed.len() {
        0 => peregrine::Server::bind(config, handler),
        1 => peregrine::Server::with_listener(config, passed.remove(0), handler),
        n => Err(peregrine::Error::Listener(format!(
            "{n} sockets passed (LISTEN_FDS); the examples serve one"
        ))),
    }
}

/// Warnings and errors, one line each on standard error.
#[cfg(feature = "log")]
fn log_warnings_to_stderr() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let _ =
                    writeln!(std::io::stderr(), "{} {}: {}", record.level(), record.target(), record.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}
