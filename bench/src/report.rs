//! Results as Markdown: printed as each run ends, and written into BENCHMARKS.md between two
//! markers, so that the analysis written around them by hand survives a re-run.

use std::fmt::Write;

pub const BEGIN: &str = "<!-- bench all: generated from here -->";
pub const END: &str = "<!-- bench all: generated up to here -->";

pub struct Section {
    pub title: String,
    pub body: String,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), body: String::new() }
    }

    pub fn line(&mut self, text: impl AsRef<str>) {
        self.body.push_str(text.as_ref());
        self.body.push('\n');
    }

    pub fn table(&mut self, head: &[&str], rows: &[Vec<String>]) {
        let _ = writeln!(self.body, "| {} |", head.join(" | "));
        let _ = writeln!(self.body, "|{}", "---|".repeat(head.len()));
        for row in rows {
            let _ = writeln!(self.body, "| {} |", row.join(" | "));
        }
    }

    pub fn markdown(&self) -> String {
        format!("### {}\n\n{}", self.title, self.body)
    }
}

/// Replaces what lies between the markers in `path` (or appends the block if they are missing).
pub fn write_into(path: &str, sections: &[Section], command: &str) -> anyhow::Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let mut block = format!("{BEGIN}\n\n{}\n{}", machine(command), changes_since(&current));
    for section in sections {
        block.push_str(&section.markdown());
        block.push('\n');
    }
    block.push_str(END);
    let updated = match (current.find(BEGIN), current.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{block}{}", &current[..start], &current[end + END.len()..])
        }
        _ => format!("{}\n{block}\n", current.trim_end()),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

/// The commits between the previous generated run (its "commit `…`") and this one.
fn changes_since(current: &str) -> String {
    let previous = current
        .find(BEGIN)
        .and_then(|start| current[start..].split("commit `").nth(1))
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let Some(previous) = previous else { return String::new() };
    let log = git(&["log", "--oneline", "--no-decorate", &format!("{previous}..HEAD")]).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    if lines.is_empty() {
        return format!("No commits since the previous run (`{previous}`).\n\n");
    }
    let mut text = format!("Changes since the previous run (`{previous}`), newest first:\n\n");
    for line in lines.iter().take(40) {
        let (hash, subject) = line.split_once(' ').unwrap_or((line, ""));
        let subject: String = subject.chars().take(160).collect();
        text.push_str(&format!("- `{hash}` {subject}\n"));
    }
    if lines.len() > 40 {
        text.push_str(&format!("- … and {} earlier\n", lines.len() - 40));
    }
    text.push('\n');
    text
}

fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Where and how the figures were taken.
fn machine(command: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    format!(
        "Last run: {date}, commit `{commit}`, release build. Machine: {cores} cores ({cpu}), {memory_gib:.0} GiB; \
         the load generator runs on the same cores as the server.\n\n```sh\n{command}\n```\n"
    )
}
