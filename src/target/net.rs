//! Stream transport, up to where the scope stops: a TCP connection to the stream port
//! is accepted. No byte is ever sent (the suite speaks no gRPC).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

/// The IP address in a stream URL (`http://<ip>`, no port, no path).
pub fn stream_url_ip(url: &str) -> anyhow::Result<IpAddr> {
    let host = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("stream_url `{url}` does not start with http://"))?
        .trim_end_matches('/');
    host.parse::<IpAddr>()
        .map_err(|_| anyhow!("stream_url `{url}`: `{host}` is not a well-formed IP address"))
}

/// Waits until `addr:port` accepts a TCP connection, then closes it without sending
/// anything. Attempts repeat until the deadline: a port opens when its pod runs.
pub async fn port_accepts_tcp(
    ip: IpAddr,
    port: u16,
    deadline: Duration,
) -> anyhow::Result<Duration> {
    let target = SocketAddr::new(ip, port);
    let started = Instant::now();
    let mut last_error = String::from("no attempt");
    let mut pause = Duration::from_millis(20);
    while started.elapsed() < deadline {
        let left = deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, tokio::net::TcpStream::connect(target)).await {
            Ok(Ok(stream)) => {
                drop(stream);
                return Ok(started.elapsed());
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = "connect timed out".into(),
        }
        tokio::time::sleep(pause.min(deadline.saturating_sub(started.elapsed()))).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
    bail!("stream port {target} did not accept TCP within {deadline:?}: {last_error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls_must_carry_a_well_formed_ip() {
        assert_eq!(
            stream_url_ip("http://10.0.0.5").ok(),
            Some("10.0.0.5".parse().expect("ip"))
        );
        assert!(stream_url_ip("https://10.0.0.5").is_err());
        assert!(stream_url_ip("http://node-1.example").is_err());
        assert!(stream_url_ip("http://10.0.0.256").is_err());
    }

    #[tokio::test]
    async fn a_closed_port_fails_within_the_deadline() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let started = Instant::now();
        let r = port_accepts_tcp(
            "127.0.0.1".parse().expect("ip"),
            port,
            Duration::from_millis(300),
        )
        .await;
        assert!(r.is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
