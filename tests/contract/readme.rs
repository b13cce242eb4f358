//! Issue 9, item 13 (and 12): the README's commands and names must match what the code and the
//! template do, so a newcomer's copy-paste works.

use std::collections::BTreeSet;
use std::path::Path;

use ecs_cost_saver::aws::{READ_OPERATIONS, WRITE_OPERATIONS};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The rows of the table under a heading, as their first cell.
fn first_cells(text: &str, heading: &str) -> Vec<String> {
    let section = text.split(heading).nth(1).unwrap_or_else(|| panic!("no {heading}"));
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.split('|').nth(1).unwrap().trim().to_string())
        .collect()
}

#[test]
fn issue9_item13_the_aws_calls_table_names_operations_as_summaries_do() {
    let text = readme();
    let known: BTreeSet<&str> = READ_OPERATIONS.iter().chain(WRITE_OPERATIONS.iter()).copied().collect();
    let mut named = BTreeSet::new();
    for cell in first_cells(&text, "### AWS calls") {
        // The first name in each row is the summary's; anything after it is commentary.
        let first = cell.split('`').nth(1).unwrap_or_else(|| panic!("row without a name: {cell}"));
        assert!(known.contains(first), "README names `{first}`, summaries never do (they say one of {known:?})");
        named.insert(first.to_string());
    }
    for op in READ_OPERATIONS {
        assert!(named.contains(op), "{op} is made by the code but missing from the README's AWS calls table");
    }
}

#[test]
fn issue9_item13_commands_name_the_stack_and_the_arm64_target() {
    let text = readme();
    assert!(text.contains("sam deploy --guided --stack-name ecs-cost-saver"), "the deploy step names the stack");
    assert!(text.contains("STACK=ecs-cost-saver"), "commands take the stack name from $STACK");
    for line in text.lines().filter(|l| l.contains("--function-name")) {
        assert!(line.contains("--function-name \"$STACK-"), "hard-coded function name: {line}");
    }
    assert!(text.contains("rustup target add aarch64-unknown-linux-gnu"), "arm64 builds need the target");
}

#[test]
fn issue9_item12_the_readme_has_a_copy_paste_local_endpoint_recipe() {
    let text = readme();
    let recipe = text.split("## Run a function locally against a local endpoint").nth(1).expect("the recipe section");
    for step in [
        "scripts/local-endpoint.sh",
        "source target/local-endpoint.env",
        "cargo lambda watch &",
        "cargo lambda invoke scale-down --data-file events/friday-evening.json",
    ] {
        assert!(recipe.contains(step), "the recipe lacks `{step}`");
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/local-endpoint.sh");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&script).unwrap().permissions());
    assert!(mode & 0o111 != 0, "scripts/local-endpoint.sh is not executable");
    assert!(std::fs::read_to_string(&script).unwrap().contains("--bin demo -- --serve"));
    for event in ["friday-evening.json", "monday-morning.json", "wake-service.json"] {
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(event).exists(), "{event}");
    }
}

/// Issue 11: "For engineers" leads with the command line, and its example is the golden table
/// the CLI's test compares against (so the README shows real output).
#[test]
fn issue11_for_engineers_leads_with_the_cli_and_shows_its_real_output() {
    let text = readme();
    let first = text.split("\n## ").nth(2).expect("a section after the quick start");
    assert!(first.starts_with("For engineers: the `ecs-cost-saver` command"), "{}", &first[..60.min(first.len())]);
    let golden =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("cli/tests/golden/status-tag.txt")).unwrap();
    assert!(first.contains(&format!("```text\n{golden}```")), "the README's status example is not the golden table");
    for code in ["`0` done", "`1` an AWS call failed", "`2` usage", "`3` no credentials", "`4` no such", "`5` refused"]
    {
        assert!(first.contains(code), "exit code `{code}` undocumented");
    }
}

/// The README's list of tests at the real clock names files and tests that exist.
#[test]
fn the_real_clock_tests_the_readme_names_exist() {
    let text = readme();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rows = first_cells(&text, "### Tests");
    assert!(rows.len() >= 4, "{rows:?}");
    for cell in rows {
        let names: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
        let source = std::fs::read_to_string(root.join(names[0])).unwrap_or_else(|e| panic!("{}: {e}", names[0]));
        if let Some(test) = names.get(1) {
            assert!(source.contains(&format!("fn {test}(")), "no {test} in {}", names[0]);
        }
    }
}
