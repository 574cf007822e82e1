//! Rules of the source's shape, checked by scripts that `make check` runs
//! too: the server's modules import each other in one direction only (the
//! top level, and the files of each directory, its `mod.rs` among them),
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

/// A directory's `mod.rs` is one of its siblings: a child using what the
/// `mod.rs` defines while the `mod.rs` uses the child is a loop.
#[test]
fn a_loop_through_a_mod_rs_is_found() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::env::temp_dir().join(format!("module-cycles-{}", std::process::id()));
    let dir = src.join("a");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(src.join("main.rs"), "mod a;\nfn main() {}\n").unwrap();
    let hub = "pub mod b;\npub struct X;\npub fn f() { b::g(); }\n";
    std::fs::write(dir.join("mod.rs"), hub).unwrap();
    std::fs::write(dir.join("b.rs"), "use super::X;\npub fn g() {}\n").unwrap();
    let run = || {
        Command::new("python3")
            .arg(root.join("../scripts/module-cycles.py"))
            .arg(&src)
            .output()
            .unwrap()
    };
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("cycle in a: b mod"), "{text}");
    // Without the mod.rs's own use of its child, no loop is left.
    std::fs::write(dir.join("mod.rs"), "pub mod b;\npub struct X;\n").unwrap();
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    std::fs::remove_dir_all(&src).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("no cycle"), "{text}");
}
