#!/bin/bash
# Table columns that read a CSV header which is not an SQL name
# (csv_header, dcr-room(5)): a spreadsheet's "Contact Phone Number" loads
# into contact_phone without rewriting the file; the SQL name stays strict.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
room() {
	cat <<YAML
version: 1
name: spreadsheet
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload people, run phones, fetch phones]
data:
  people:
    type: table
$2
    columns:
      - {name: contact_phone, type: string, csv_header: "Contact Phone Number"}
      - {name: age, type: int64$1}
      - {name: spend, type: float64, csv_header: "Spend (€), total \"net\""}
compute:
  phones:
    type: sql
    query: SELECT contact_phone, age, spend FROM people ORDER BY age
YAML
}
room "" "" >room/room.yaml
room ", csv_header: age" "" >room/same.yaml
room ", csv_header: \"Contact Phone Number\"" "" >room/dup.yaml
room ", csv_header: \"\"" "" >room/empty.yaml
room ", csv_header: \"a\\tb\"" "" >room/control.yaml
room "" "    header: false" >room/noheader.yaml
sed 's/{name: contact_phone, type: string, csv_header: "Contact Phone Number"}/{name: Contact Phone Number, type: string}/' \
	room/room.yaml >room/sqlname.yaml

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
id_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$1"; }

# The definition.
expect 0 "dry run" "$DCR" --json create --dry-run room/room.yaml
id=$(id_of "$out")
has "$(python3 -c 'import json, sys
for c in json.load(sys.stdin)["data"][0]["columns"]: print(c["name"], "=", c["csv_header"])' <<<"$out")" \
	'^contact_phone = Contact Phone Number$' "--json shows the header a column reads"
expect 0 "dry run in text" "$DCR" create --dry-run room/room.yaml
has "$out" 'contact_phone string from "Contact Phone Number", age int64, spend float64 from "Spend \(€\), total "net""' \
	"the summary shows it"
expect 0 "a csv_header equal to the name" "$DCR" --json create --dry-run room/same.yaml
mapped=$(id_of "$out")
sed 's/, csv_header: age//' room/same.yaml >room/plain.yaml
expect 0 "the same without it" "$DCR" --json create --dry-run room/plain.yaml
checks=$((checks + 1))
[ "$(id_of "$out")" = "$mapped" ] || fail "csv_header: NAME changes the room ID"
checks=$((checks + 1))
[ "$mapped" = "$id" ] || fail "csv_header: NAME gives another room than leaving it out"
expect 6 "two columns read one header" "$DCR" create --dry-run room/dup.yaml
has "$err" "room/dup.yaml:[0-9]+:[0-9]+: columns 'contact_phone' and 'age' both read the CSV header 'Contact Phone Number'" \
	"the duplicate is located"
expect 6 "an empty csv_header" "$DCR" create --dry-run room/empty.yaml
has "$err" "room/empty.yaml:[0-9]+:[0-9]+: the csv_header of column 'age' must be 1 to 256 bytes without control characters" \
	"empty refused"
expect 6 "a control character" "$DCR" create --dry-run room/control.yaml
has "$err" "the csv_header of column 'age' must be 1 to 256 bytes" "a tab refused"
expect 6 "a csv_header without a header" "$DCR" create --dry-run room/noheader.yaml
has "$err" "room/noheader.yaml:[0-9]+:[0-9]+: column 'contact_phone' has a csv_header, but the table has no header" \
	"header: false refused"
expect 6 "the SQL name stays strict" "$DCR" create --dry-run room/sqlname.yaml
has "$err" "column name 'Contact Phone Number' must start with a-z" "a header is no SQL name"

# The data: the spreadsheet's file as it is.
printf '\xef\xbb\xbf"Contact Phone Number",age,"Spend (\xe2\x82\xac), total ""net"""\r\n+1 555 0100,41,12.5\r\n+44 20 7946 0000,29,3\r\n' >people.csv
printf 'contact_phone,age,spend\n+1 555 0100,41,12.5\n' >renamed.csv

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
expect 0 "upload the spreadsheet's CSV" as upload people.csv
ds=$out
expect 0 "publish it" as publish "$id" people "$ds"
expect 0 "run" as run "$id" phones --wait -o result.csv
has "$(cat result.csv)" '^contact_phone,age,spend$' "SQL sees the SQL names"
has "$(sed -n 2p result.csv)" '^\+44 20 7946 0000,29,3(\.0)?$' "first row"
has "$(sed -n 3p result.csv)" '^\+1 555 0100,41,12\.5$' "second row"

# A file whose header is the SQL names does not fit: the header is the room's.
expect 0 "upload a file with SQL names as its header" as upload renamed.csv
expect 6 "publishing it is refused" as publish "$id" people "$out"
has "$err" "table 'people', header: field 1 should be 'Contact Phone Number' \(the header names the columns exactly, in order: Contact Phone Number,age,Spend \(€\), total \"net\"\)" \
	"the error names the header expected"

finish
