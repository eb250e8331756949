//! Which upstream connection of a provider carries each stream a client joins. A
//! provider's stream runs on up to `max_connections` connections (each its own driver,
//! at most `max_streams` streams each): a stream already carried stays where it is
//! (every client of it shares it), a new one goes to the first connection with room,
//! and a new connection opens when all are full. So one greedy client cannot fill
//! Binance's 1024 streams and leave the next client a 503. Pure: the hub calls it
//! under its lock with the streams each connection carries.

use std::collections::HashMap;

/// The streams one connection carries, each with its number of clients.
pub type Load = HashMap<String, usize>;

/// Where each of `streams` goes (an index into `loads`, or past its end for a new
/// connection), or why there is no room.
pub fn place(
    loads: &[&Load],
    streams: &[&str],
    max_streams: usize,
    max_connections: usize,
) -> Result<Vec<usize>, String> {
    let mut added: Vec<Vec<&str>> = vec![Vec::new(); loads.len()];
    let mut out = Vec::with_capacity(streams.len());
    for &s in streams {
        if let Some(i) = loads.iter().position(|l| l.contains_key(s)) {
            out.push(i);
            continue;
        }
        if let Some(i) = added.iter().position(|a| a.contains(&s)) {
            out.push(i);
            continue;
        }
        let used = |i: usize| loads.get(i).map_or(0, |l| l.len()) + added[i].len();
        let room = (0..added.len()).find(|&i| used(i) < max_streams);
        let i = match room {
            Some(i) => i,
            None if added.len() < max_connections => {
                added.push(Vec::new());
                added.len() - 1
            }
            None => {
                let total = loads.iter().map(|l| l.len()).sum::<usize>();
                return Err(format!(
                    "the stream carries at most {max_streams} streams on each of {max_connections} connections, \
                     and {total} are in use: fewer symbols or channels, or retry later"
                ));
            }
        };
        added[i].push(s);
        out.push(i);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(names: &[&str]) -> Load {
        names.iter().map(|n| ((*n).to_owned(), 1)).collect()
    }

    #[test]
    fn shared_streams_stay_put_and_new_ones_fill_the_first_connection_with_room() {
        let (ab, c) = (load(&["a", "b"]), load(&["c"]));
        assert_eq!(place(&[&ab, &c], &["b", "c", "d", "e", "d"], 3, 4), Ok(vec![0, 1, 0, 1, 0]));
    }

    #[test]
    fn a_full_provider_opens_another_connection_up_to_its_limit() {
        let ab = load(&["a", "b"]);
        assert_eq!(place(&[&ab], &["c", "d", "e"], 2, 3), Ok(vec![1, 1, 2]));
        let err = place(&[&ab], &["c", "d", "e"], 2, 2).unwrap_err();
        assert!(err.contains("at most 2 streams on each of 2 connections"), "{err}");
        assert_eq!(place(&[], &["x"], 1, 1), Ok(vec![0]), "the first connection");
    }
}
