use berth_store::Store;

use super::output::{human_age, human_size};
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub o: super::OutArgs,
    /// Image reference or id.
    reference: String,
}

pub fn run(store: &Store, a: &Args, out: &Output) -> anyhow::Result<()> {
    let img = store.resolve(&a.reference)?;
    // Pair non-empty history entries with layers, newest first as docker shows them.
    let mut layers = img.manifest.layers.iter();
    let mut rows = vec![];
    for h in &img.config.history {
        let layer = if h.empty_layer.unwrap_or(false) { None } else { layers.next() };
        rows.push((h, layer));
    }
    rows.reverse();
    if out.json() {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(h, l)| serde_json::json!({"created": h.created, "created_by": h.created_by, "comment": h.comment, "empty_layer": h.empty_layer.unwrap_or(false), "layer": l.map(|l| &l.digest), "size": l.map(|l| l.size).unwrap_or(0)}))
            .collect();
        out.print_json(&v);
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|(h, l)| {
                vec![
                    l.map(|l| l.digest.short().to_owned()).unwrap_or_else(|| "<missing>".into()),
                    h.created.as_deref().map(human_age).unwrap_or_default(),
                    h.created_by.clone().unwrap_or_default().chars().take(60).collect(),
                    human_size(l.map(|l| l.size).unwrap_or(0)),
                    h.comment.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.table(&["LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT"], &table);
    }
    Ok(())
}
