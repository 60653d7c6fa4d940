//! Arrow record batches from DuckDB (arrow-rs) into a polars `DataFrame`, column by column,
//! through the Arrow C Data Interface: numbers and timestamps are not copied.
//!
//! arrow-rs's `FFI_ArrowArray`/`FFI_ArrowSchema` and polars-arrow's `ArrowArray`/`ArrowSchema`
//! are both the `#[repr(C)]` structs of the C Data Interface specification, so one is handed
//! to the other as it is; ownership (the `release` callback) moves with it.
#![allow(unsafe_code)]

use duckdb::arrow::array::Array as _;
use duckdb::arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema, to_ffi};
use duckdb::arrow::record_batch::RecordBatch;
use polars::prelude::{Column, DataFrame, PolarsError, PolarsResult, Series};
use polars_arrow::ffi::{ArrowArray, ArrowSchema, import_array_from_c, import_field_from_c};

const _: () = assert!(std::mem::size_of::<FFI_ArrowArray>() == std::mem::size_of::<ArrowArray>());
const _: () = assert!(std::mem::size_of::<FFI_ArrowSchema>() == std::mem::size_of::<ArrowSchema>());

/// The batches as one frame (one chunk per batch); `None` when there are no batches.
pub fn to_frame(batches: &[RecordBatch]) -> PolarsResult<Option<DataFrame>> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for index in 0..schema.fields().len() {
        let mut field = None;
        let mut chunks = Vec::with_capacity(batches.len());
        for batch in batches {
            let data = batch.column(index).to_data();
            let (array, schema) =
                to_ffi(&data).map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
            // SAFETY: both types are the C Data Interface's `#[repr(C)]` structs (sizes checked
            // above); the values come from arrow-rs's exporter and are moved, not copied, so
            // each release callback runs exactly once, from polars.
            let (array, schema): (ArrowArray, ArrowSchema) = unsafe {
                (
                    std::mem::transmute::<FFI_ArrowArray, ArrowArray>(array),
                    std::mem::transmute::<FFI_ArrowSchema, ArrowSchema>(schema),
                )
            };
            // SAFETY: `schema` and `array` were exported by arrow-rs for the same array.
            let imported_field = unsafe { import_field_from_c(&schema)? };
            let chunk = unsafe { import_array_from_c(array, imported_field.dtype().clone())? };
            field.get_or_insert(imported_field);
            chunks.push(chunk);
        }
        if let Some(field) = field {
            let mut series = Series::try_from((&field, chunks))?;
            series.rename(schema.field(index).name().as_str().into());
            columns.push(Column::from(series));
        }
    }
    DataFrame::new_infer_height(columns).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use duckdb::Connection;
    use polars::prelude::ChunkAgg;

    #[test]
    fn duckdb_batches_become_a_polars_frame() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn
            .prepare("SELECT i::BIGINT AS n, 'k' || (i % 3) AS key, (i * 1.5)::DECIMAL(18,6) AS price FROM range(5000) t(i)")
            .unwrap();
        let batches: Vec<RecordBatch> = stmt
            .stream_arrow([])
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(batches.len() > 1, "several DuckDB chunks");
        let frame = to_frame(&batches).unwrap().unwrap();
        assert_eq!(frame.height(), 5000);
        let n = frame.column("n").unwrap().i64().unwrap();
        assert_eq!(n.sum(), Some((0..5000).sum()));
        assert_eq!(
            frame.column("key").unwrap().str().unwrap().get(4),
            Some("k1")
        );
    }
}
