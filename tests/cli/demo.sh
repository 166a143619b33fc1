#!/bin/bash
# The README's main example (examples/demo.sh) runs to the end with these binaries.
. "$(dirname "$0")/lib.sh"

expect 0 "examples/demo.sh" bash "$SRCDIR/examples/demo.sh"
has "$out" '^created room [0-9a-f]{64}$' "the room is created"
has "$out" '^total$' "the result has its header"
has "$out" '^756750.75$' "the total of both payrolls"
has "$out" '^verified offline: [0-9]+ entries' "the audit export verifies offline"
finish
