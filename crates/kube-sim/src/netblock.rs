//! Loopback address blocks: each kube-sim instance claims its own free 127.a.b.0/24 by
//! binding a claim socket on 127.a.b.254, so instances in one or many processes never
//! collide. Node i gets InternalIP 127.a.b.(i+1).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use rand::Rng;

/// Port of the claim socket on 127.a.b.254.
pub const CLAIM_PORT: u16 = 47_999;

/// A claimed block; released when dropped.
#[derive(Debug)]
pub struct Block {
    pub a: u8,
    pub b: u8,
    _claim: TcpListener,
}

/// Errors claiming a block.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("no free 127.a.b.0/24 loopback block could be claimed (last error: {0})")]
    Exhausted(std::io::Error),
}

impl Block {
    /// Claim a free block, starting at a random candidate.
    pub fn claim() -> Result<Block, BlockError> {
        let start: u32 = rand::rng().random_range(0..(250 * 256));
        let mut last = std::io::Error::other("none tried");
        for i in 0..(250u32 * 256) {
            let n = (start + i) % (250 * 256);
            let a = (1 + n / 256) as u8; // 1..=250, never 127.0.x.x
            let b = (n % 256) as u8;
            let ip = Ipv4Addr::new(127, a, b, 254);
            match TcpListener::bind(SocketAddr::from((ip, CLAIM_PORT))) {
                Ok(l) => return Ok(Block { a, b, _claim: l }),
                Err(e) => last = e,
            }
        }
        Err(BlockError::Exhausted(last))
    }

    /// Address `host` (1..=253) of the block.
    pub fn ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.a, self.b, host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_claims_differ() {
        let x = Block::claim().expect("first");
        let y = Block::claim().expect("second");
        assert_ne!((x.a, x.b), (y.a, y.b));
        assert_eq!(x.ip(1).octets()[0], 127);
    }
}
