//! Warren's one log: every line goes through `tracing` to stderr as
//! `warren: message key=value…` (`warren: warning: …`, `warren: error: …`
//! above info), optionally behind an RFC 3339 UTC timestamp. Colour only
//! when stderr is a terminal. Scripts and tests wait for the
//! `warren: … listening on ADDR` and `warren: ready` lines.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Startup announcements (`… listening on ADDR`, `ready`) use this target
/// and are logged whatever the filter: scripts wait for them.
const STARTUP_DIRECTIVE: &str = "startup=info";

/// Installs the global subscriber. `filter` is tracing-subscriber's
/// `EnvFilter` syntax (e.g. `info`, `gateway=debug`).
pub fn init(filter: &str, timestamps: bool) {
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter).add_directive(STARTUP_DIRECTIVE.parse().expect("a valid directive")))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .event_format(Line { timestamps, ansi })
        .init();
}

struct Line {
    timestamps: bool,
    ansi: bool,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        if self.timestamps {
            SystemTime.format_time(&mut writer)?;
            writer.write_char(' ')?;
        }
        writer.write_str("warren: ")?;
        let (label, colour) = match *event.metadata().level() {
            Level::ERROR => ("error: ", "\x1b[1;31m"),
            Level::WARN => ("warning: ", "\x1b[1;33m"),
            Level::INFO => ("", ""),
            Level::DEBUG => ("debug: ", "\x1b[34m"),
            Level::TRACE => ("trace: ", "\x1b[35m"),
        };
        if self.ansi && !label.is_empty() {
            write!(writer, "{colour}{label}\x1b[0m")?;
        } else {
            writer.write_str(label)?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
