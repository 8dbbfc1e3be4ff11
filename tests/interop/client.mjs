// One interop check: the official CometD JavaScript client (npm `cometd`, run in Node through
// `cometd-nodejs-client`) receives an agent's notifications from `gwsim serve`.
//
//   node client.mjs --base http://127.0.0.1:PORT --transport long-polling|websocket --auth cookie|basic
//
// The agent's name and password come from GWSIM_INTEROP_USER / GWSIM_INTEROP_PASSWORD (set by
// ./run, throwaway values); they are never printed. GWSIM_INTEROP_DEBUG=1 turns on CometD's own
// debug log; GWSIM_INTEROP_TRACE=1 prints the Bayeux trace on success too. Exits 0 when every
// step passed, 1 with a message naming the failed step, and prints the last Bayeux messages
// exchanged so a server-side failure can be reported precisely.

import { adapt } from "cometd-nodejs-client";
import { CometD } from "cometd";
import * as ws from "ws";

const CONTACT_CENTER_ID = "5f3a2e9c-1b7d-4c5e-8f00-9a6b1c2d3e4f";
const GLOBAL_TIMEOUT_MS = 60_000;
// How long one expected notification may take. The server sends them as soon as the operation
// is accepted, so seconds are plenty; the CometD client itself gives up on a request after 10 s.
const STEP_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Arguments and environment

function parseArgs(argv) {
    const args = { base: null, transport: null, auth: null };
    for (let i = 0; i < argv.length; i += 2) {
        const key = argv[i].replace(/^--/, "");
        if (!(key in args) || argv[i + 1] === undefined) {
            usage(`unknown or incomplete argument '${argv[i]}'`);
        }
        args[key] = argv[i + 1];
    }
    if (!args.base) usage("--base is required");
    if (!["long-polling", "websocket"].includes(args.transport)) usage("--transport must be long-polling or websocket");
    if (!["cookie", "basic"].includes(args.auth)) usage("--auth must be cookie or basic");
    if (args.transport === "websocket" && args.auth === "basic") {
        // Browsers cannot put Authorization on a websocket upgrade, so a standard client
        // authenticates it with the session cookie only (protocol.md §16).
        usage("websocket is checked with --auth cookie only");
    }
    return args;
}

function usage(problem) {
    console.error(`client.mjs: ${problem}`);
    console.error("usage: node client.mjs --base http://127.0.0.1:PORT --transport long-polling|websocket --auth cookie|basic");
    process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const user = process.env.GWSIM_INTEROP_USER;
const password = process.env.GWSIM_INTEROP_PASSWORD;
if (!user || !password) usage("set GWSIM_INTEROP_USER and GWSIM_INTEROP_PASSWORD");
const debug = process.env.GWSIM_INTEROP_DEBUG === "1";
const showTrace = process.env.GWSIM_INTEROP_TRACE === "1";
const label = `${args.transport}/${args.auth}`;
const basicAuth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");

// ---------------------------------------------------------------------------------------------
// Reporting

let step = "start";
const trace = []; // the last Bayeux messages both ways, shown on failure (or always, with GWSIM_INTEROP_TRACE=1)
const TRACE_KEEP = 60;

const started = Date.now();

function record(direction, message) {
    const ms = String(Date.now() - started).padStart(6);
    trace.push(`${ms} ms ${direction} ${JSON.stringify(message)}`);
    if (trace.length > TRACE_KEEP) trace.shift();
}

function log(text) {
    console.log(`[${label}] ${text}`);
}

class CheckFailure extends Error {}

function fail(text) {
    throw new CheckFailure(text);
}

function finish(code, text) {
    if (code === 0) {
        if (showTrace) for (const line of trace) console.log(`  ${line}`);
        log(`PASS ${text}`);
    } else {
        console.error(`[${label}] FAIL at step "${step}": ${text}`);
        if (trace.length > 0) {
            console.error(`[${label}] last ${trace.length} Bayeux messages (ms since start, -> sent, <- received):`);
            for (const line of trace) console.error(`  ${line}`);
        }
    }
    // The adapter's keep-alive HTTP agent and any half-closed socket would keep Node alive.
    process.exit(code);
}

const globalTimer = setTimeout(
    () => finish(1, `global timeout of ${GLOBAL_TIMEOUT_MS / 1000} s exceeded`),
    GLOBAL_TIMEOUT_MS,
);
globalTimer.unref();

// ---------------------------------------------------------------------------------------------
// REST with fetch: the agent's login and operations, and the customer.

// Two cookie jars: `restJar` for the agent's fetch calls (filled by the login), `cometdJar` for
// the CometD client's requests (long-polling XMLHttpRequests and the websocket upgrade), the way
// a browser keeps cookies for the page. With --auth cookie the CometD jar is seeded with the
// login's JSESSIONID; with --auth basic it stays empty and ignores Set-Cookie, so that every
// CometD request is authenticated by the Authorization header alone (protocol.md §16).
const restJar = new Map();
const cometdJar = new Map();

function storeSetCookie(jar, header) {
    const nameValue = header.split(";")[0].trim();
    const equal = nameValue.indexOf("=");
    if (equal > 0) jar.set(nameValue.substring(0, equal), nameValue);
}

function cookieHeader(jar) {
    return [...jar.values()].join("; ");
}

let csrf = null; // [header name, token] from GET /api/v2/me

async function rest(method, path, body, headers = {}) {
    let response;
    try {
        response = await fetch(args.base + path, {
            method,
            headers: { "Content-Type": "application/json", ...headers },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
        });
    } catch (error) {
        fail(`${method} ${path} got no answer: ${error.cause?.code ?? error.cause?.message ?? error.message}`);
    }
    const text = await response.text();
    let json = null;
    try {
        json = JSON.parse(text);
    } catch {
        // Left null: the caller reports the raw text.
    }
    return { status: response.status, headers: response.headers, text, json };
}

// An agent request authenticated by the session cookie alone, with the CSRF header on POSTs.
async function agentPost(path, body) {
    const reply = await rest("POST", path, body, { Cookie: cookieHeader(restJar), [csrf[0]]: csrf[1] });
    if (reply.status !== 200 || reply.json?.statusCode !== 0) {
        fail(`POST ${path} ${JSON.stringify(body)} answered HTTP ${reply.status} ${reply.text}`);
    }
    return reply.json;
}

async function login() {
    const reply = await rest("GET", "/api/v2/me", undefined, { Authorization: basicAuth });
    if (reply.status !== 200) fail(`GET /api/v2/me with Basic auth answered HTTP ${reply.status} ${reply.text}`);
    for (const header of reply.headers.getSetCookie()) storeSetCookie(restJar, header);
    if (!restJar.has("JSESSIONID")) fail("GET /api/v2/me set no JSESSIONID cookie");
    const name = reply.headers.get("X-CSRF-HEADER");
    const token = reply.headers.get("X-CSRF-TOKEN");
    if (!name || !token) fail("GET /api/v2/me returned no X-CSRF-HEADER / X-CSRF-TOKEN");
    csrf = [name, token];
}

// ---------------------------------------------------------------------------------------------
// The CometD client

// The adapter's cookie hooks make the long-polling requests use `cometdJar`.
adapt({
    logLevel: debug ? "debug" : "info",
    cookies: {
        storeCookie(uri, header, callback) {
            if (args.auth === "cookie") storeSetCookie(cometdJar, header);
            callback();
        },
        retrieveCookies(context, uri, callback) {
            callback(null, [...cometdJar.values()]);
        },
    },
});

// The adapter hands `ws.WebSocket` to CometD, which opens it with (url[, protocol]) only, so the
// upgrade would carry no cookie. A browser sends its cookies on the upgrade by itself; this
// subclass does the same with `cometdJar`, and nothing else (no Authorization: browsers cannot).
// It must be in place before `new CometD()`, which registers the websocket transport only if
// window.WebSocket exists.
class CookieWebSocket extends ws.WebSocket {
    constructor(url, protocols) {
        const cookie = cookieHeader(cometdJar);
        super(url, protocols, cookie ? { headers: { Cookie: cookie } } : {});
    }
}
globalThis.window.WebSocket = CookieWebSocket;

const cometd = new CometD();
// Only the transport under test: CometD would otherwise fall back from websocket to
// long-polling silently and the websocket check would pass without using websocket.
for (const type of cometd.getTransportTypes()) {
    if (type !== args.transport) cometd.unregisterTransport(type);
}
if (cometd.getTransportTypes().join() !== args.transport) {
    finish(1, `the CometD client cannot offer the ${args.transport} transport (has: ${cometd.getTransportTypes().join(", ")})`);
}

// Sees every message the server sent (incoming) and every message the client sends
// (outgoing); local failures do not pass here, so `received` is the server's word only.
const received = [];
const sent = [];
const UNKNOWN_CLIENT_ID = "interop-unknown-client";
let forgetNextConnect = false;
let forgottenConnectId = null; // its unsuccessful reply is expected, not a broken cycle
cometd.registerExtension("interop-trace", {
    incoming(message) {
        record("<-", message);
        received.push(message);
        return message;
    },
    outgoing(message) {
        if (forgetNextConnect && message.channel === "/meta/connect") {
            // Stands for a server that lost the session (restart, expiry after maxInterval):
            // the server cannot tell this apart from a clientId it has never issued.
            forgetNextConnect = false;
            message.clientId = UNKNOWN_CLIENT_ID;
            forgottenConnectId = message.id;
        }
        record("->", message);
        sent.push(message);
        return message;
    },
});

// Unsuccessful meta replies, from the server or the client's own timeouts. Any of them means
// the connect cycle broke, which a working server never causes in this scenario.
const unsuccessful = [];
cometd.addListener("/meta/unsuccessful", (message) => {
    unsuccessful.push(message);
});

// A meta reply as text. A reply the client made up on a local failure carries the transport,
// the request and the exception (circular objects); keep what tells what happened.
function describe(message) {
    const { failure, ...rest } = message;
    if (!failure) return JSON.stringify(rest);
    const why = {
        reason: failure.reason,
        httpCode: failure.httpCode,
        exception: failure.exception?.message ?? failure.exception,
        websocketCode: failure.websocketCode,
    };
    return `${JSON.stringify(rest)} failure ${JSON.stringify(why)}`;
}

// CometD drops all subscriptions on a new handshake; its documentation has the application
// subscribe again from a /meta/handshake listener, as done here after a re-handshake.
const resubscribed = [];
cometd.addListener("/meta/handshake", (message) => {
    if (message.successful && message.reestablish) {
        cometd.subscribe("/v2/me/*", onNotification, (reply) => resubscribed.push(reply));
    }
});

function callbackPromise(start) {
    return new Promise((resolve) => start(resolve));
}

// ---------------------------------------------------------------------------------------------
// Notifications: queued as the CometD client delivers them, consumed in order by the checks.

const notifications = [];
let wake = null;

function onNotification(message) {
    notifications.push(message);
    if (wake) wake();
}

// Waits for the next notification that matches `want`, skipping the ones `skip` allows;
// anything else arriving first is a failure (it would be an ordering or content error).
async function expectNext(description, want, skip = () => false) {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
        while (notifications.length > 0) {
            const message = notifications.shift();
            if (want(message)) return message;
            if (!skip(message)) {
                fail(`expected ${description}, got on ${message.channel}: ${JSON.stringify(message.data)}`);
            }
        }
        const left = deadline - Date.now();
        if (left <= 0) fail(`no ${description} within ${STEP_TIMEOUT_MS / 1000} s`);
        await new Promise((resolve) => {
            const timer = setTimeout(resolve, left);
            wake = () => {
                clearTimeout(timer);
                resolve();
            };
        });
        wake = null;
        checkConnectCycle();
    }
}

// Polls `probe` until it returns something, for at most 5 s.
async function waitFor(description, probe) {
    const deadline = Date.now() + 5_000;
    for (;;) {
        const found = probe();
        if (found) return found;
        if (Date.now() > deadline) fail(`no ${description} within 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

// Waits until the client has a /meta/connect outstanding, then 0.5 s more so that it has reached
// the server and is held there, and checks that the server did hold it (nothing else happens
// meanwhile, so an answer would mean the server did not wait for an event or the timeout).
async function waitForHeldConnect() {
    const held = await waitFor("an outstanding /meta/connect", () => {
        const connects = sent.filter((m) => m.channel === "/meta/connect");
        const last = connects[connects.length - 1];
        return last && !received.some((m) => m.channel === "/meta/connect" && m.id === last.id) ? last : null;
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (received.some((m) => m.channel === "/meta/connect" && m.id === held.id)) {
        fail(`/meta/connect id ${held.id} was answered within 0.5 s with no event; it should have been held`);
    }
    return held;
}

function checkConnectCycle() {
    const broken = unsuccessful.filter((m) => !(m.channel === "/meta/connect" && m.id === forgottenConnectId));
    if (broken.length > 0) {
        fail(`the CometD client reported an unsuccessful ${broken[0].channel}: ${describe(broken[0])}`);
    }
}

const isChannelState = (state) => (m) =>
    m.channel === "/v2/me/channels" &&
    m.data?.messageType === "ChannelStateChangeMessageV2" &&
    (m.data.channels ?? []).some((c) => c.channel === "chat" && c.userState?.state === state);

const chatEvent = (chatId) => (m) =>
    m.channel === "/v2/me/chats" &&
    (m.data?.chat?.id === chatId || m.data?.chatPath === `/chats/${chatId}`);

// ---------------------------------------------------------------------------------------------
// The scenario

async function scenario() {
    step = "login (GET /api/v2/me, Basic)";
    await login();

    const requestHeaders = args.auth === "basic" ? { Authorization: basicAuth } : {};
    if (args.auth === "cookie") cometdJar.set("JSESSIONID", restJar.get("JSESSIONID"));
    cometd.configure({
        url: `${args.base}/api/v2/notifications`,
        logLevel: debug ? "debug" : "warn",
        requestHeaders,
        // There is no browser page to keep responsive, and Node has no Worker in `window`.
        useWorkerScheduler: false,
    });

    step = "handshake";
    const handshake = await callbackPromise((done) => cometd.handshake(done));
    if (!handshake.successful) fail(`handshake failed: ${describe(handshake)}`);
    const used = cometd.getTransport()?.type;
    if (used !== args.transport) fail(`handshake negotiated '${used}', not '${args.transport}'`);
    log(`handshake ok over ${used}`);

    step = "subscribe /v2/me/*";
    const subscribe = await callbackPromise((done) => cometd.subscribe("/v2/me/*", onNotification, done));
    if (!subscribe.successful) fail(`subscribe failed: ${describe(subscribe)}`);

    step = "StartContactCenterSession -> channel NotReady";
    await agentPost("/api/v2/me", { operationName: "StartContactCenterSession", channels: ["chat"] });
    await expectNext("ChannelStateChangeMessageV2 with chat NotReady", isChannelState("NotReady"));

    step = "Ready -> channel Ready";
    await agentPost("/api/v2/me", { operationName: "Ready" });
    await expectNext("ChannelStateChangeMessageV2 with chat Ready", isChannelState("Ready"));
    log("channel state notifications ok");

    step = "customer RequestChat -> StatusChange(Invited)";
    // A key in userData ties the invitation to this very request (protocol.md §15.19).
    const marker = `interop-${process.pid}-${Date.now()}`;
    const request = await rest(
        "POST",
        "/api/v2/chats",
        { operationName: "RequestChat", nickname: "Chris", userData: { interopMarker: marker } },
        { ContactCenterId: CONTACT_CENTER_ID },
    );
    if (request.status !== 200 || request.json?.statusCode !== 0) {
        fail(`customer RequestChat answered HTTP ${request.status} ${request.text}`);
    }
    const invited = await expectNext(
        "ChatStateChangeMessage StatusChange(Invited)",
        (m) =>
            m.channel === "/v2/me/chats" &&
            m.data?.messageType === "ChatStateChangeMessage" &&
            m.data.notificationType === "StatusChange" &&
            m.data.chat?.state === "Invited",
        // A late channel-state echo (e.g. an activity update) is harmless here.
        (m) => m.channel === "/v2/me/channels",
    );
    const chatId = invited.data.chat.id;
    if (!chatId) fail(`Invited has no chat.id: ${JSON.stringify(invited.data)}`);
    if (invited.data.chat.userData?.interopMarker !== marker) {
        fail(`Invited chat does not carry this request's userData: ${JSON.stringify(invited.data.chat.userData)}`);
    }
    log(`invited to chat ${chatId}`);

    step = "Accept -> StatusChange(Chatting), ParticipantsUpdated, MessageLogUpdated";
    await agentPost(`/api/v2/me/chats/${chatId}`, { operationName: "Accept", nickname: "Ann" });
    const ofChat = chatEvent(chatId);
    const otherChannel = (m) => m.channel === "/v2/me/channels";
    await expectNext(
        "StatusChange(Chatting)",
        (m) => ofChat(m) && m.data.notificationType === "StatusChange" && m.data.chat.state === "Chatting",
        otherChannel,
    );
    await expectNext(
        "ParticipantsUpdated (after Chatting)",
        (m) => ofChat(m) && m.data.notificationType === "ParticipantsUpdated",
        otherChannel,
    );
    const history = await expectNext(
        "MessageLogUpdated (after ParticipantsUpdated)",
        (m) => ofChat(m) && m.data.messageType === "MessageLogUpdated",
        otherChannel,
    );
    if (!Array.isArray(history.data.messages) || history.data.messages.length === 0) {
        fail(`MessageLogUpdated carries no messages: ${JSON.stringify(history.data)}`);
    }
    log("accept sequence ok (Chatting, ParticipantsUpdated, MessageLogUpdated)");
    checkConnectCycle();

    if (args.transport === "long-polling") {
        await unknownClient(chatId, ofChat, otherChannel);
    }

    step = "disconnect";
    // protocol.md §16: on disconnect the server answers the held /meta/connect at once with
    // reconnect "none", so the client's last request ends instead of hanging until the timeout.
    // Right after a connect reply the client has not sent the next connect yet (it is scheduled
    // on a timer), so first wait until one is outstanding, and give it time to reach the server
    // and be held there: with long-polling the disconnect travels on another HTTP request.
    const held = await waitForHeldConnect();
    const disconnect = await callbackPromise((done) => cometd.disconnect(done));
    if (!disconnect.successful) fail(`disconnect failed: ${describe(disconnect)}`);
    const answer = await waitFor(`the reply to the held /meta/connect id ${held.id} after the disconnect`, () =>
        received.find((m) => m.channel === "/meta/connect" && m.id === held.id),
    );
    if (answer.successful !== true || answer.advice?.reconnect !== "none") {
        fail(`the held /meta/connect was answered without successful:true, advice.reconnect:"none": ${JSON.stringify(answer)}`);
    }
    if (cometd.getStatus() !== "disconnected") fail(`client status after disconnect is '${cometd.getStatus()}'`);
    checkConnectCycle();
    log("disconnect ok (held connect answered with reconnect none)");
}

// protocol.md §3.2 and §16: a /meta/connect with a clientId the server does not know gets
// successful:false, error "402::Unknown client", advice reconnect "handshake"; the standard client
// then handshakes again by itself, and the application subscribes again (the listener above).
// Long-polling only: there every event ends the held connect, so the next connect (the one made
// unknown) goes out at once; over websocket events are pushed beside a connect held for the whole
// timeout (30 s), so this step would add that much to every run.
async function unknownClient(chatId, ofChat, otherChannel) {
    step = "unknown client -> 402, re-handshake, resubscribe, events again";
    const firstClientId = cometd.getClientId();
    // Only once a connect is held: the one after it is sent when an event ends the held one.
    // (Setting the flag while the next connect is still on the client's timer would send the
    // event to the forgotten session, where nobody reads it.)
    await waitForHeldConnect();
    forgetNextConnect = true;
    await agentPost(`/api/v2/me/chats/${chatId}`, { operationName: "SendMessage", text: "before" });
    await expectNext(
        "MessageLogUpdated with the agent's text 'before'",
        (m) => ofChat(m) && m.data.messageType === "MessageLogUpdated" && m.data.messages?.some((e) => e.text === "before"),
        otherChannel,
    );
    const refusal = await waitFor("the reply to the /meta/connect with an unknown clientId", () => {
        const bad = sent.find((m) => m.channel === "/meta/connect" && m.clientId === UNKNOWN_CLIENT_ID);
        return bad && received.find((m) => m.channel === "/meta/connect" && m.id === bad.id);
    });
    if (
        refusal.successful !== false ||
        !String(refusal.error ?? "").startsWith("402") ||
        refusal.advice?.reconnect !== "handshake"
    ) {
        fail(`unknown clientId answered ${JSON.stringify(refusal)}; expected successful:false, error "402::Unknown client", advice.reconnect "handshake"`);
    }
    await waitFor("a resubscription after the client's own re-handshake", () => resubscribed[0]);
    if (!resubscribed[0].successful) fail(`resubscribe after re-handshake failed: ${describe(resubscribed[0])}`);
    if (cometd.getClientId() === firstClientId) fail("the client kept its old clientId after the 402");
    checkConnectCycle();
    await agentPost(`/api/v2/me/chats/${chatId}`, { operationName: "SendMessage", text: "after" });
    await expectNext(
        "MessageLogUpdated with the agent's text 'after' (through the new session)",
        (m) => ofChat(m) && m.data.messageType === "MessageLogUpdated" && m.data.messages?.some((e) => e.text === "after"),
        otherChannel,
    );
    log("unknown client ok (402, re-handshake, resubscribed, events flow again)");

}

scenario().then(
    () => finish(0, "all steps passed"),
    (error) => finish(1, error instanceof CheckFailure ? error.message : `unexpected error: ${error?.stack ?? error}`),
);
