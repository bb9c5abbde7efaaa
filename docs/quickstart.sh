#!/bin/sh
# A first register in a throw-away folder: init, a school, its headteacher, the file's status.
set -e
dir=$(mktemp -d)
export ACCOUNTCTL_REGISTER="$dir/oak.accountctl"
export ACCOUNTCTL_NEW_PASSPHRASE="quickstart passphrase"
export ACCOUNTCTL_PASSPHRASE="$ACCOUNTCTL_NEW_PASSPHRASE"
accountctl init --trust "Oak Trust" --email it@oak.sch.uk --name "Ira Tech"
accountctl school add oak --name "Oak Primary" --domain oak.sch.uk
accountctl staff add head@oak.sch.uk --name "Hana Head" --school oak --role headteacher --role slt
accountctl staff list
accountctl vault status
echo "Register left at $ACCOUNTCTL_REGISTER (passphrase: $ACCOUNTCTL_PASSPHRASE)"
