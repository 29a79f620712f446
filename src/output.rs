//! The suite's standard output. A reader that goes away (`focus-scope plan | head`)
//! must not end a run or a cleanup half-way: once stdout is closed, output is dropped
//! quietly and the work goes on (`println!` would panic instead).

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Standard output for writers that take an `io::Write` (cucumber's terminal writer).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match io::stdout().write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::Relaxed);
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match io::stdout().flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}

/// One line on standard output; dropped once the reader has gone.
pub fn say(line: impl Display) {
    // Any other write error has nowhere better to go than stdout itself: drop it too.
    let _ = writeln!(Stdout, "{line}");
}

/// `println!` that survives a closed stdout: `say!("{x} done")`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::say(format_args!($($arg)*))
    };
}
