#!/usr/bin/env bash
# A chat through consult, remove and leave with nothing but curl, against `gwsim serve`:
#   GWSIM_DEMO_PASSWORD=secret cargo run --release -- serve --demo-users 3    # in one terminal
#   GWSIM_DEMO_PASSWORD=secret examples/curl-walkthrough.sh                    # in another
# Agent 1 (Ann) and agent 2 (Bob) log in with Basic auth, keep their JSESSIONID cookie and CSRF
# token, open a CometD long-polling session each, and after every step the script prints the
# notifications each agent received (protocol.md §6 and §15 say what they must be).
set -euo pipefail
B=${GWSIM_URL:-http://127.0.0.1:8090}
CC=${GWSIM_CONTACT_CENTER_ID:-5f3a2e9c-1b7d-4c5e-8f00-9a6b1c2d3e4f}   # gwsim serve's default
PW=${GWSIM_DEMO_PASSWORD:?set GWSIM_DEMO_PASSWORD to the password gwsim serve was given}
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT

declare -A TOKEN CLIENT
for a in 1 2; do
  curl -sf -u "agent-$a:$PW" -c "$dir/a$a.jar" -D "$dir/a$a.h" "$B/api/v2/me?subresources=*" >/dev/null
  TOKEN[$a]=$(grep -i '^x-csrf-token' "$dir/a$a.h" | cut -d' ' -f2 | tr -d '\r')
  CLIENT[$a]=$(curl -sf -b "$dir/a$a.jar" "$B/api/v2/notifications/handshake" \
    -d '[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1"}]' \
    | sed 's/.*"clientId":"\([^"]*\)".*/\1/')
  # Subscribe, and make the first /meta/connect (answered at once).
  curl -sf -b "$dir/a$a.jar" "$B/api/v2/notifications/" -d "[{\"channel\":\"/meta/subscribe\",\"clientId\":\"${CLIENT[$a]}\",\"subscription\":\"/v2/me/*\",\"id\":\"2\"},{\"channel\":\"/meta/connect\",\"clientId\":\"${CLIENT[$a]}\",\"connectionType\":\"long-polling\",\"advice\":{\"timeout\":0},\"id\":\"3\"}]" >/dev/null
done

step() { echo; echo "== $*"; }
post() {  # post AGENT PATH JSON
  curl -s -b "$dir/a$1.jar" -H "X-CSRF-TOKEN: ${TOKEN[$1]}" -H 'Content-Type: application/json' -d "$3" "$B$2"; echo
}
notifications() {  # what AGENT received since the last look (a held /meta/connect returns with it)
  echo "-- agent-$1 received:"
  curl -s -m 35 -b "$dir/a$1.jar" "$B/api/v2/notifications/connect" \
    -d "[{\"channel\":\"/meta/connect\",\"clientId\":\"${CLIENT[$1]}\",\"connectionType\":\"long-polling\",\"id\":\"9\"}]" \
    | sed 's/},{"channel"/},\n{"channel"/g' | grep -v '"/meta/connect"' || true
}

step "both agents start a contact-center session; agent-1 is Ready"
post 1 /api/v2/me '{"operationName":"StartContactCenterSession","channels":["chat"]}'
post 1 /api/v2/me '{"operationName":"Ready"}'
post 2 /api/v2/me '{"operationName":"StartContactCenterSession","channels":["chat"]}'
notifications 1; notifications 2

step "a customer requests a chat: it is routed to agent-1 (StatusChange Invited)"
curl -s -H "ContactCenterId: $CC" -d '{"operationName":"RequestChat","nickname":"Chris","subject":"Billing"}' "$B/api/v2/chats"; echo
notifications 1
ID=$(curl -s -b "$dir/a1.jar" "$B/api/v2/me?subresources=*" | sed 's/.*"chats":\[{"id":"\([^"]*\)".*/\1/')
U2=$(curl -s -b "$dir/a2.jar" "$B/api/v2/me" | sed 's/.*"uri":"\([^"]*\)".*/\1/')

step "agent-1 accepts: StatusChange(Chatting), ParticipantsUpdated, MessageLogUpdated (history)"
post 1 "/api/v2/me/chats/$ID" '{"operationName":"Accept","nickname":"Ann"}'
notifications 1

step "agent-1 consults agent-2, who is invited to the same chat and accepts"
post 1 "/api/v2/me/chats/$ID" "{\"operationName\":\"Consult\",\"targetUri\":\"$U2\"}"
notifications 2
post 2 "/api/v2/me/chats/$ID" '{"operationName":"Accept","nickname":"Bob"}'
notifications 2; notifications 1

step "agent-1 removes agent-2: Notice, ParticipantsUpdated, ParticipantLeft / LeftChat..Completed"
post 1 "/api/v2/me/chats/$ID" "{\"operationName\":\"RemoveParticipantFromConference\",\"targetUri\":\"$U2\"}"
notifications 1; notifications 2

step "agent-1 leaves (StatusChange LeftChat) and completes (StatusChange Completed)"
post 1 "/api/v2/me/chats/$ID" '{"operationName":"Leave"}'
post 1 "/api/v2/me/chats/$ID" '{"operationName":"Complete"}'
notifications 1
