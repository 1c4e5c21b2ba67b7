//! `interlock completions` and `interlock man`: shell completions and the manual page, from the
//! same clap definition as `--help`.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::Exit;

pub(crate) fn completions(args: CompletionsArgs) -> anyhow::Result<Exit> {
    // clap_complete offers hidden subcommands too (clap-rs/clap#1335): complete a copy of the
    // command line without them (the internal `demo-worker`).
    let cli = Cli::command();
    let mut visible_only = clap::Command::new("interlock")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cli.get_arguments().cloned())
        .subcommands(visible(&cli).cloned());
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut visible_only, "interlock", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(Exit::Success)
}

/// One page, interlock(1): the top-level sections, then a COMMANDS section with each
/// subcommand's synopsis, description, options and examples (instead of one page per
/// subcommand, so that `interlock man > interlock.1` installs everything).
pub(crate) fn man(_: ManArgs) -> anyhow::Result<Exit> {
    let mut cli = Cli::command();
    cli.build();
    let mut page = Vec::new();
    let top = Man::new(cli.clone());
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    top.render_options_section(&mut page)?;
    writeln!(page, ".SH COMMANDS")?;
    for sub in visible(&cli) {
        command_section(&mut page, sub)?;
    }
    top.render_version_section(&mut page)?;
    writeln!(page, ".SH \"SEE ALSO\"\n.BR flock (1),\n.BR lslocks (8)")?;
    std::io::stdout().lock().write_all(&page)?;
    Ok(Exit::Success)
}

/// The subcommands a user sees (not `help`, not hidden ones).
fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// `.SS interlock SUB`: synopsis, description, options, examples; a command with subcommands of
/// its own (`demo`) gets one such subsection per subcommand instead.
fn command_section(page: &mut Vec<u8>, cmd: &clap::Command) -> std::io::Result<()> {
    if cmd.has_subcommands() {
        for sub in visible(cmd) {
            command_section(page, sub)?;
        }
        return Ok(());
    }
    let name = cmd.get_bin_name().unwrap_or(cmd.get_name());
    writeln!(page, ".SS \"{name}\"")?;
    let man = Man::new(cmd.clone());
    let mut part = |render: fn(&Man, &mut dyn Write) -> std::io::Result<()>, fill: bool| {
        let mut roff = Vec::new();
        render(&man, &mut roff)?;
        page.extend_from_slice(if fill { b".PP\n" } else { b".PP\n.nf\n" });
        // Without the section's own `.SH` heading: this is one subsection.
        for line in roff.split_inclusive(|b| *b == b'\n') {
            if !line.starts_with(b".SH ") {
                page.extend_from_slice(line);
            }
        }
        if !fill {
            page.extend_from_slice(b".fi\n");
        }
        Ok::<(), std::io::Error>(())
    };
    part(Man::render_synopsis_section, true)?;
    part(Man::render_description_section, true)?;
    part(Man::render_options_section, true)?;
    if cmd.get_after_help().is_some() {
        // The examples, line for line as in --help.
        part(Man::render_extra_section, false)?;
    }
    Ok(())
}
