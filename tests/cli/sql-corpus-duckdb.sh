#!/bin/bash
# The SQL differential corpus on the duckdb engine (see sql-corpus.sh).
ENGINE=duckdb . "$(dirname "$0")/sql-corpus.sh"
