//! The kernel's layer rule, checked on the host (a test, so it runs with `cargo test`
//! and in `cargo xtask test`): no file of `kernel/src` names a module of a higher layer.
//!
//! The layers come from the table in `docs/layers.md`, the one place they are written
//! down: a row's first cell is its number (1 at the bottom), its second cell lists the
//! top-level modules of `kernel/src` in it, each in backticks. Modules of one layer may
//! use each other. Every top-level module must be in the table.
//!
//! A file's references are the paths it spells: `crate::x…` (also `$crate::` in macros,
//! and each member of a `crate::{…}` group) and `super::…` paths that climb out of the
//! file's top-level module (counting inline `mod m { … }` blocks). Comments and string
//! literals are left out. A name that is not a top-level module is a macro exported by
//! some module (`#[macro_export]`, found where it is defined) or an item of the crate root
//! (`main.rs`, in the layer of `main`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Layer numbers of the top-level modules, by name (`main` for the crate root).
type Layers = BTreeMap<String, usize>;

/// Reads the layer table of `docs/layers.md` (see the module documentation).
fn parse_table(doc: &str) -> Result<Layers, String> {
    let mut layers = Layers::new();
    for line in doc.lines().map(str::trim) {
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(number) = cells.first().and_then(|c| c.split_whitespace().next()) else {
            continue;
        };
        let Ok(number) = number.parse::<usize>() else {
            continue;
        };
        let modules = cells.get(1).copied().unwrap_or("");
        let mut found = false;
        for name in modules.split('`').skip(1).step_by(2) {
            if let Some(other) = layers.insert(name.to_string(), number) {
                return Err(format!("`{name}` is in layers {other} and {number}"));
            }
            found = true;
        }
        if !found {
            return Err(format!("layer {number} names no module: {line}"));
        }
    }
    if layers.is_empty() {
        return Err("no layer table found".into());
    }
    Ok(layers)
}

/// A source file: its path under `kernel/src` and its module path (empty for `main.rs`).
struct Source {
    rel: PathBuf,
    module: Vec<String>,
    text: String,
}

impl Source {
    /// The top-level module the file belongs to (`main` for the crate root).
    fn top(&self) -> &str {
        self.module.first().map_or("main", String::as_str)
    }
}

/// The module path of a file under `kernel/src`: `a/b.rs` is `a::b`, `a/mod.rs` is `a`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.strip_suffix(".rs").unwrap_or(&last).to_string();
        if stem != "mod" && !(parts.is_empty() && stem == "main") {
            parts.push(stem);
        }
    }
    parts
}

/// Every `.rs` file below `dir`, in a stable order.
fn read_sources(src: &Path) -> Result<Vec<Source>, String> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(src).unwrap_or(&path).to_path_buf();
            let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(Source {
                module: module_path(&rel),
                rel,
                text,
            })
        })
        .collect()
}

/// `text` with comments and the contents of string and character literals blanked out
/// (line breaks kept, so that line numbers stay).
fn strip(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if (c[i] == 'r' || (c[i] == 'b' && at(i + 1) == 'r'))
            && !is_ident(at(i.wrapping_sub(1)))
            && {
                let mut k = i + if c[i] == 'b' { 2 } else { 1 };
                while at(k) == '#' {
                    k += 1;
                }
                at(k) == '"'
            }
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut k = i + if c[i] == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(k) == '#' {
                hashes += 1;
                k += 1;
            }
            out.extend(std::iter::repeat_n(' ', k + 1 - i));
            i = k + 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A character literal ('x', '\n', '\u{..}'); a lifetime has no closing quote.
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '\'' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Dollar,
    Other,
}

/// The tokens of stripped source, each with its line number (from 1).
fn tokens(text: &str) -> Vec<(usize, Token)> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if is_ident(ch) {
            let start = i;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            out.push((line, Token::Ident(c[start..i].iter().collect())));
        } else {
            let t = match ch {
                ':' if c.get(i + 1) == Some(&':') => {
                    i += 1;
                    Token::PathSep
                }
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                '$' => Token::Dollar,
                _ => Token::Other,
            };
            out.push((line, t));
            i += 1;
        }
    }
    out
}

/// The names a file reaches outside its own top-level module, as (line, first name after
/// the crate root). For the crate root itself every path is local and nothing is
/// returned.
fn references(module: &[String], text: &str) -> Vec<(usize, String)> {
    let toks = tokens(&strip(text));
    let ident = |k: usize| match toks.get(k) {
        Some((_, Token::Ident(s))) => Some(s.as_str()),
        _ => None,
    };
    let is = |k: usize, t: &Token| toks.get(k).map(|(_, x)| x) == Some(t);
    let mut found = Vec::new();
    // Inline modules: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut k = 0;
    while k < toks.len() {
        let line = toks[k].0;
        match &toks[k].1 {
            Token::Open => depth += 1,
            Token::Close => {
                if inline.last().is_some_and(|&(_, d)| d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(w) if w == "mod" && ident(k + 1).is_some() && is(k + 2, &Token::Open) => {
                inline.push((ident(k + 1).unwrap_or_default().to_string(), depth + 1));
                depth += 1;
                k += 3;
                continue;
            }
            Token::Ident(w) if w == "crate" && is(k + 1, &Token::PathSep) => {
                if k > 0 && is(k - 1, &Token::PathSep) {
                    k += 1;
                    continue;
                }
                let (names, next) = path_heads(&toks, k + 2);
                found.extend(names.into_iter().map(|n| (line, n)));
                k = next;
                continue;
            }
            Token::Ident(w) if w == "super" && !(k > 0 && is(k - 1, &Token::PathSep)) => {
                let mut ups = 0;
                let mut j = k;
                while ident(j) == Some("super") && is(j + 1, &Token::PathSep) {
                    ups += 1;
                    j += 2;
                }
                let mut here: Vec<String> = module.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                if ups >= here.len() {
                    // Climbs to the crate root: the next name is a top-level one.
                    let (names, next) = path_heads(&toks, j);
                    if ups == here.len() {
                        found.extend(names.into_iter().map(|n| (line, n)));
                    }
                    k = next;
                    continue;
                }
                k = j.max(k + 1);
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    if module.is_empty() {
        return Vec::new();
    }
    found.retain(|(_, n)| n != &module[0] && n != "self");
    found
}

/// The first name of the path at token `k` (just after `crate::`), or of each member of
/// a `{…}` group there; returns them and the index to go on from.
fn path_heads(toks: &[(usize, Token)], k: usize) -> (Vec<String>, usize) {
    match toks.get(k).map(|(_, t)| t) {
        Some(Token::Ident(name)) => (vec![name.clone()], k + 1),
        Some(Token::Open) => {
            let mut names = Vec::new();
            let mut depth = 0;
            let mut expect = true;
            let mut j = k + 1;
            while let Some((_, t)) = toks.get(j) {
                match t {
                    Token::Open => depth += 1,
                    Token::Close if depth == 0 => return (names, j + 1),
                    Token::Close => depth -= 1,
                    Token::Comma if depth == 0 => expect = true,
                    Token::Ident(name) if expect && depth == 0 => {
                        names.push(name.clone());
                        expect = false;
                    }
                    _ => {}
                }
                j += 1;
            }
            (names, j)
        }
        _ => (Vec::new(), k),
    }
}

/// Macros exported at the crate root (`#[macro_export] macro_rules! name`), by the
/// top-level module that defines them.
fn exported_macros(sources: &[Source]) -> BTreeMap<String, String> {
    let mut macros = BTreeMap::new();
    for s in sources {
        let toks = tokens(&strip(&s.text));
        for w in toks.windows(6) {
            let names: Vec<Option<&str>> = w
                .iter()
                .map(|(_, t)| match t {
                    Token::Ident(n) => Some(n.as_str()),
                    _ => None,
                })
                .collect();
            // `# [ macro_export ] macro_rules ! name`: the tokens around the names vary,
            // so look for the two words close together.
            if names[0] == Some("macro_export") {
                if let Some(pos) = names.iter().position(|n| *n == Some("macro_rules")) {
                    if let Some(Some(name)) = names.get(pos + 2) {
                        macros.insert(name.to_string(), s.top().to_string());
                    }
                }
            }
        }
    }
    macros
}

/// Checks every file of `src` against `layers`; returns one line per offending
/// reference, and per module missing from the table.
fn check(src: &Path, layers: &Layers) -> Result<Vec<String>, String> {
    let sources = read_sources(src)?;
    let tops: BTreeSet<String> = sources.iter().map(|s| s.top().to_string()).collect();
    let macros = exported_macros(&sources);
    let mut problems: Vec<String> = tops
        .iter()
        .filter(|t| !layers.contains_key(*t))
        .map(|t| format!("kernel/src: module `{t}` is in no layer of docs/layers.md"))
        .collect();
    problems.extend(
        layers
            .keys()
            .filter(|m| !tops.contains(*m))
            .map(|m| format!("docs/layers.md: module `{m}` does not exist in kernel/src")),
    );
    for s in &sources {
        let Some(&own) = layers.get(s.top()) else {
            continue;
        };
        for (line, name) in references(&s.module, &s.text) {
            let target = if tops.contains(&name) {
                name.clone()
            } else if let Some(m) = macros.get(&name) {
                m.clone()
            } else {
                "main".to_string()
            };
            let Some(&theirs) = layers.get(&target) else {
                continue;
            };
            if theirs > own {
                let what = if name == target {
                    format!("`{target}`")
                } else {
                    format!("`{name}` of `{target}`")
                };
                problems.push(format!(
                    "kernel/src/{}:{line}: `{}` (layer {own}) uses {what} (layer {theirs})",
                    s.rel.display(),
                    s.top(),
                ));
            }
        }
    }
    Ok(problems)
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[test]
fn kernel_layers_point_one_way() {
    let doc = fs::read_to_string(root().join("docs/layers.md")).expect("reading docs/layers.md");
    let layers = parse_table(&doc).unwrap_or_else(|e| panic!("docs/layers.md: {e}"));
    let problems = check(&root().join("kernel/src"), &layers).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        problems.is_empty(),
        "a kernel file uses a higher layer (docs/layers.md):\n{}",
        problems.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(module: &[&str], text: &str) -> Vec<(usize, String)> {
        let module: Vec<String> = module.iter().map(|s| s.to_string()).collect();
        references(&module, text)
    }

    #[test]
    fn module_paths() {
        assert_eq!(module_path(Path::new("main.rs")), Vec::<String>::new());
        assert_eq!(module_path(Path::new("sync.rs")), ["sync"]);
        assert_eq!(module_path(Path::new("arch/mod.rs")), ["arch"]);
        assert_eq!(module_path(Path::new("arch/gdt.rs")), ["arch", "gdt"]);
    }

    #[test]
    fn paths_groups_and_macros() {
        let text = "use crate::exec::CurrentFrame;\n\
                    use crate::{obj::pd, mem::{frames, kspace}, self as k};\n\
                    fn f() { crate::println!(\"x\"); $crate::console::print(); }\n\
                    const X: u8 = crate::exec::Outcome::SWITCHED.byte();\n\
                    use crate::arch::cpu;\n";
        assert_eq!(
            names(&["arch", "gdt"], text),
            [
                (1, "exec".to_string()),
                (2, "obj".to_string()),
                (2, "mem".to_string()),
                (3, "println".to_string()),
                (3, "console".to_string()),
                (4, "exec".to_string()),
            ]
        );
    }

    #[test]
    fn super_paths_leave_the_module_only_from_its_top() {
        // From arch/gdt.rs, `super::` is arch; from arch/mod.rs it is the crate root.
        assert!(names(&["arch", "gdt"], "use super::msr;").is_empty());
        assert_eq!(
            names(&["arch"], "use super::exec::sched;"),
            [(1, "exec".to_string())]
        );
        assert_eq!(
            names(&["arch", "gdt"], "fn f() { super::super::obj::put(1); }"),
            [(1, "obj".to_string())]
        );
        // An inline module adds a level.
        let text = "mod tests {\n    use super::*;\n    use super::super::sync::SpinLock;\n}\nuse super::super::mem;\n";
        assert_eq!(names(&["arch", "gdt"], text), [(5, "mem".to_string())]);
    }

    #[test]
    fn comments_and_strings_name_nothing() {
        let text = "// crate::exec::x\n/* crate::obj /* nested */ crate::cap */\n\
                    /// See [`crate::entry`].\nlet s = \"crate::exec\";\n\
                    global_asm!(r#\"call {f} // crate::exec\"#, f = sym crate::entry::g);\n\
                    let c = '\"'; let d = crate::mem::x; fn g<'a>(x: &'a u8) { crate::sync::y(); }\n";
        assert_eq!(
            names(&["arch", "gdt"], text),
            [
                (5, "entry".to_string()),
                (6, "mem".to_string()),
                (6, "sync".to_string())
            ]
        );
    }

    #[test]
    fn the_table_is_read_from_its_rows() {
        let doc = "text\n\n| layer | modules | what |\n|---|---|---|\n\
                   | 2 machine | `arch` `mem` | x |\n| 1 | `sync` | y |\n";
        let layers = parse_table(doc).unwrap();
        assert_eq!(layers.get("arch"), Some(&2));
        assert_eq!(layers.get("mem"), Some(&2));
        assert_eq!(layers.get("sync"), Some(&1));
        assert!(parse_table("| 1 | `a` |\n| 2 | `a` |\n").is_err());
        assert!(parse_table("no table").is_err());
    }

    #[test]
    fn a_reference_upward_is_reported() {
        let dir = std::env::temp_dir().join(format!("xtask-layers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("arch")).unwrap();
        fs::write(
            dir.join("main.rs"),
            "mod arch;\nmod exec;\npub fn helper() {}\n",
        )
        .unwrap();
        fs::write(dir.join("arch/mod.rs"), "pub mod gdt;\n").unwrap();
        fs::write(
            dir.join("arch/gdt.rs"),
            "fn f() {\n    crate::exec::g();\n    crate::helper();\n}\n",
        )
        .unwrap();
        fs::write(
            dir.join("exec.rs"),
            "pub fn g() { crate::arch::gdt::f(); }\n",
        )
        .unwrap();
        let layers: Layers = [("arch", 1), ("exec", 2), ("main", 3)]
            .into_iter()
            .map(|(m, l)| (m.to_string(), l))
            .collect();
        let problems = check(&dir, &layers).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("kernel/src/arch/gdt.rs:2: `arch` (layer 1) uses `exec`"));
        assert!(problems[1]
            .starts_with("kernel/src/arch/gdt.rs:3: `arch` (layer 1) uses `helper` of `main`"));
    }
}
