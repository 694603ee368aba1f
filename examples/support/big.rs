//! The load-test contract's `/big` body (benches/loadbench): 6150 bytes,
//! byte `i` being `'a' + i % 26`.

pub const BIG_LEN: usize = 6150;

pub static BIG: [u8; BIG_LEN] = {
    let mut body = [0u8; BIG_LEN];
    let mut i = 0;
    while i < BIG_LEN {
        body[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    body
};
