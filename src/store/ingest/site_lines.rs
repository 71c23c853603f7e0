//! The short lines each site repeats: counted per article, learned past a threshold,
//! loaded at start.

use super::*;

/// Counts each short line of a new article (`lines`: their identities, each once) for its
/// site; a line reaching `threshold` articles is learned as that site's boilerplate
/// (applied once the poll commits).
pub(super) fn count_site_lines(
    tx: &Sql,
    site: &str,
    lines: &[u64],
    threshold: u32,
    now: i64,
    learned: &mut Vec<(String, u64)>,
) -> Result<(), StoreError> {
    for &hash in lines {
        let articles: i64 = tx.value(
            "INSERT INTO site_lines (host, line_hash, articles, last_seen) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (host, line_hash) DO UPDATE SET articles = site_lines.articles + 1, last_seen = ?3
             RETURNING articles",
            args![site, hash as i64, now],
        )?;
        if articles == i64::from(threshold) {
            learned.push((site.to_string(), hash));
        }
    }
    Ok(())
}

/// Lines not seen for this long, and not learned, are forgotten.
const FORGET_LINES_AFTER: i64 = 30 * 86_400;

/// Loads the learned boilerplate lines (forgetting stale counts first).
pub(in crate::store) fn load_site_lines(conn: &Sql, threshold: u32, now: i64) -> Result<SiteLines, StoreError> {
    let lines = SiteLines::default();
    if threshold == 0 {
        return Ok(lines);
    }
    conn.exec(
        "DELETE FROM site_lines WHERE articles < ?1 AND last_seen < ?2",
        args![threshold, now - FORGET_LINES_AFTER],
    )?;
    conn.each("SELECT host, line_hash FROM site_lines WHERE articles >= ?1", args![threshold], |r| {
        let host: String = r.get(0)?;
        lines.learn(&host, r.get::<i64>(1)? as u64);
        Ok(true)
    })?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn a_line_is_learned_at_the_threshold_and_stale_counts_are_forgotten() {
        let (_dir, mut state) = state();
        let now = 1_700_000_000;
        let tx = state.db.begin().unwrap();
        let mut learned = Vec::new();
        for _ in 0..3 {
            count_site_lines(&tx, "a.example", &[7, 8], 3, now, &mut learned).unwrap();
        }
        count_site_lines(&tx, "a.example", &[9], 3, now, &mut learned).unwrap();
        tx.commit().unwrap();
        assert_eq!(learned, vec![("a.example".to_string(), 7), ("a.example".to_string(), 8)]);
        let lines = load_site_lines(&state.db.on(), 3, now).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines.for_site("a.example").unwrap().contains(&7));
        // Line 9 was seen once, long ago: forgotten; the learned lines stay.
        let later = now + FORGET_LINES_AFTER + 1;
        load_site_lines(&state.db.on(), 3, later).unwrap();
        assert_eq!(count(&mut state, "SELECT count(*) FROM site_lines"), 2);
    }
}
