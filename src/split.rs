//! Text split at one ASCII byte (`/`, `,`, `&`, `=`), found by a plain byte scan. The
//! request path splits paths, queries and header lists into a few short pieces, where
//! `str::split(char)`'s searcher costs more per piece than the scan does per byte
//! (bench/instructions.sh).

/// The pieces of `s` between occurrences of `sep`, as `str::split(sep)` gives them (an
/// empty `s` gives one empty piece).
pub fn pieces(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match at(r, sep) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `s` split at its first `sep`, as `str::split_once(sep)` does.
pub fn once(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = at(s, sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Where the first `sep` is. An ASCII byte never occurs inside a multi-byte
/// character, so the places around it are character boundaries.
fn at(s: &str, sep: u8) -> Option<usize> {
    s.bytes().position(|b| b == sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_once_agree_with_str_split() {
        for s in ["", "/", "a", "a/b", "/a/b/", "a//b", "ünï/cödé/x", "€/€", "abc/"] {
            assert_eq!(pieces(s, b'/').collect::<Vec<_>>(), s.split('/').collect::<Vec<_>>(), "{s:?}");
            assert_eq!(once(s, b'/'), s.split_once('/'), "{s:?}");
        }
    }
}
