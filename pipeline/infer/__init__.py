"""Batched inference: letterbox maths, preprocessing, output decoding and backends."""
