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

/// Diagnostics (warnings, progress detail, errors inside the libraries) go through
/// `tracing` to stderr; the run's summary lines do not (they are `eprintln!`/`say`).
/// `RUST_LOG` overrides the level `-v` sets. Without either, only the suite's own
/// info and warnings show, as one plain `focus-scope: …` line each: the embedded
/// sandbox and kube-sim log only from `-v` on (their warnings are expected noise
/// when a defect is injected). Called once; later calls do nothing.
pub fn init_logging(verbosity: u8) {
    use tracing_subscriber::EnvFilter;
    let from_env = std::env::var_os("RUST_LOG").is_some();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(match verbosity {
            0 => "focus_scope=info",
            1 => "warn,focus_scope=debug,focus_sandbox=info,kube_sim=info",
            _ => "info,focus_scope=trace,focus_sandbox=debug,kube_sim=debug",
        })
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // Field names in italics on a terminal; plain text in a CI log or a file.
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .event_format(Lines {
            detailed: verbosity > 0 || from_env,
        })
        .try_init();
}

/// One line an event: `focus-scope: [warning: |error: ]message key=value …`; with
/// `-v` or `RUST_LOG`, every line names its level and module.
struct Lines {
    detailed: bool,
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Lines
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        write!(writer, "focus-scope: ")?;
        if self.detailed {
            write!(writer, "{} {}: ", meta.level(), meta.target())?;
        } else if *meta.level() == tracing::Level::ERROR {
            write!(writer, "error: ")?;
        } else if *meta.level() == tracing::Level::WARN {
            write!(writer, "warning: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
