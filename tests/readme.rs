//! Every README block marked `<!-- runnable -->` runs, as a newcomer would
//! paste it, against a real mount: `/mailslot` in it is the test's mount,
//! `mailslot` the built command. A block followed by one marked
//! `<!-- output -->` must print exactly that.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::Mount;

struct Block {
    lang: String,
    code: String,
    output: Option<String>,
    line: usize,
}

/// The fenced block that starts after the marker line at `i`: its
/// language, its text and the line after its closing fence.
fn fenced(lines: &[&str], i: usize) -> (String, String, usize) {
    let open = lines
        .get(i + 1)
        .filter(|l| l.starts_with("```"))
        .unwrap_or_else(|| panic!("README line {}: a marker must precede a fence", i + 1));
    let lang = open.trim_start_matches('`').trim().to_string();
    let mut j = i + 2;
    let mut code = String::new();
    while !lines[j].starts_with("```") {
        code.push_str(lines[j]);
        code.push('\n');
        j += 1;
    }
    (lang, code, j + 1)
}

fn blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out: Vec<Block> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match lines[i].trim() {
            "<!-- runnable -->" => {
                let (lang, code, next) = fenced(&lines, i);
                out.push(Block {
                    lang,
                    code,
                    output: None,
                    line: i + 1,
                });
                i = next;
            }
            "<!-- output -->" => {
                let (_, text, next) = fenced(&lines, i);
                let last = out
                    .last_mut()
                    .unwrap_or_else(|| panic!("README line {}: output of nothing", i + 1));
                last.output = Some(text);
                i = next;
            }
            _ => i += 1,
        }
    }
    out
}

#[test]
fn every_runnable_readme_block_runs_as_shown() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let blocks = blocks(&readme);
    assert!(
        blocks.len() >= 3,
        "the README's runnable blocks were not found"
    );
    let m = Mount::start();
    let bin = Path::new(env!("CARGO_BIN_EXE_mailslot")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for b in &blocks {
        let code = b.code.replace("/mailslot", &m.s());
        let mut cmd = match b.lang.as_str() {
            "sh" => {
                let mut c = Command::new("bash");
                c.args(["-e", "-c", &code]);
                c
            }
            "python" => {
                let mut c = Command::new("python3");
                c.args(["-c", &code]);
                c
            }
            other => panic!("README line {}: cannot run a {other} block", b.line),
        };
        let out = cmd
            .env("PATH", &path)
            .env("MAILSLOT_MOUNT", &m.path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "README block at line {} failed ({}):\n{code}\n--- stdout\n{stdout}\n--- stderr\n{}",
            b.line,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(want) = &b.output {
            assert_eq!(stdout, *want, "README block at line {}", b.line);
        }
    }
}
