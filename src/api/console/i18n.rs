//! The console's words: one `key = value` file per language under `locales/console/`,
//! compiled in. zh-CN is the default. `tests/api/console.rs` checks that both files have the
//! same keys, that every key a template uses exists, and that templates hold no words of
//! their own.

use std::{collections::HashMap, sync::LazyLock};

pub struct Lang {
    pub code: &'static str,
    words: HashMap<&'static str, &'static str>,
}

fn parse(code: &'static str, source: &'static str) -> Lang {
    let words = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    Lang { code, words }
}

pub const ZH_CN: &str = include_str!("../../../locales/console/zh-CN.txt");
pub const EN: &str = include_str!("../../../locales/console/en.txt");

static LANGS: LazyLock<[Lang; 2]> = LazyLock::new(|| [parse("zh-CN", ZH_CN), parse("en", EN)]);

impl Lang {
    pub fn of(code: &str) -> &'static Lang {
        LANGS.iter().find(|l| l.code == code).unwrap_or(&LANGS[0])
    }

    pub fn first() -> &'static Lang {
        &LANGS[0]
    }

    /// The words for `key`; a missing key shows as itself (and fails the key test).
    pub fn t(&self, key: &str) -> &'static str {
        match self.words.get(key) {
            Some(v) => v,
            None => LANGS[1].words.get(key).copied().unwrap_or("??"),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &&'static str> {
        self.words.keys()
    }

    pub fn is_zh(&self) -> bool {
        self.code == "zh-CN"
    }
}
