//! Rules of the source's shape, checked by scripts that `make check` runs
//! too: the server's modules import each other in one direction only (the
//! top level, and the files of each directory but `abi/` and `backend/`),
//! and no function outside tests is over 120 lines.

use std::path::Path;
use std::process::Command;

/// Run `scripts/NAME` on the server's sources; its output when it fails.
fn check(script: &str, says: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("../scripts").join(script))
        .arg(root.join("src"))
        .output()
        .unwrap_or_else(|e| panic!("python3 runs scripts/{script}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(says), "unexpected output: {text}");
}

#[test]
fn no_module_imports_itself_round_a_loop() {
    check("module-cycles.py", "no cycle");
}

#[test]
fn no_function_is_over_120_lines() {
    check("long-functions.py", "none over 120 lines");
}
