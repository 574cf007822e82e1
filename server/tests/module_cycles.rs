//! The server's modules import each other in one direction only: the top
//! level, and the files of each directory but `abi/` and `backend/` (see
//! `scripts/module-cycles.py`).

use std::path::Path;
use std::process::Command;

#[test]
fn no_module_imports_itself_round_a_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("../scripts/module-cycles.py"))
        .arg(root.join("src"))
        .output()
        .expect("python3 runs scripts/module-cycles.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "module cycles:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("no cycle"), "unexpected output: {text}");
}
