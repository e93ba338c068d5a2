// Conformance of the simulator with the official JavaScript SDK
// (@azure/communication-call-automation): create, answer, play, recognize, hang up,
// and a 401 for a wrong key. Environment as for python_sdk.py; trust the CA with
// NODE_EXTRA_CA_CERTS.
import http from "node:http";
import { CallAutomationClient } from "@azure/communication-call-automation";

const CONN = process.env.SIM_CONNECTION_STRING;
const SIM = process.env.SIM_HTTP;
const CALLER = "+14255550123";
const APP_NUMBER = "+18005550100";
const AGENT = "+15550001111";

const inboxes = new Map(); // call connection id -> { events: [], waiters: [] }
const inbox = (id) => {
  if (!inboxes.has(id)) inboxes.set(id, { events: [], waiters: [] });
  return inboxes.get(id);
};
let tokens = 0;
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    if ((req.headers.authorization ?? "").startsWith("Bearer ")) tokens++;
    for (const event of JSON.parse(body)) {
      const box = inbox(event.data.callConnectionId);
      box.events.push(event);
      box.waiters.splice(0).forEach((wake) => wake());
    }
    res.writeHead(200).end();
  });
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const CALLBACK = `http://127.0.0.1:${server.address().port}/callback`;

async function waitFor(id, type, timeoutMs = 15000) {
  const box = inbox(id);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = box.events.findIndex((e) => e.type === `Microsoft.Communication.${type}`);
    if (i >= 0) return box.events.splice(0, i + 1).pop();
    if (Date.now() > deadline) throw new Error(`${type} not received on ${id}; saw ${box.events.map((e) => e.type)}`);
    await new Promise((wake) => { box.waiters.push(wake); setTimeout(wake, 100); });
  }
}

async function ring(inputs) {
  const caller = { name: "js-sdk", from: CALLER, to: APP_NUMBER, inputs };
  const res = await fetch(`${SIM}/sim/calls`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ caller }) });
  if (res.status !== 201) throw new Error(`placing a call: ${res.status} ${await res.text()}`);
  return res.json();
}

const assert = (ok, message) => { if (!ok) throw new Error(message); };
let passed = 0;
const step = (name) => { passed++; console.log(`ok ${name}`); };

const client = new CallAutomationClient(CONN);
const caller = { phoneNumber: CALLER };

const placed = await ring([{ dtmf: "4" }]);
const answered = await client.answerCall(placed.incomingCallContext, CALLBACK, { operationContext: "js" });
const id = answered.callConnectionProperties.callConnectionId;
await waitFor(id, "CallConnected");
step("answerCall + CallConnected");

const connection = client.getCallConnection(id);
const props = await connection.getCallConnectionProperties();
assert(props.callConnectionState === "connected", `state ${props.callConnectionState}`);
step("getCallConnectionProperties");

const media = connection.getCallMedia();
await media.playToAll([{ kind: "textSource", text: "Hello from JavaScript." }], { operationContext: "hello" });
const played = await waitFor(id, "PlayCompleted");
assert(played.data.operationContext === "hello", JSON.stringify(played.data));
step("playToAll + PlayCompleted");

await media.startRecognizing(caller, {
  kind: "callMediaRecognizeDtmfOptions", maxTonesToCollect: 1, interruptPrompt: true, initialSilenceTimeoutInSeconds: 5,
  playPrompt: { kind: "textSource", text: "Enter a digit." }, operationContext: "digit",
});
const recognized = await waitFor(id, "RecognizeCompleted");
assert(JSON.stringify(recognized.data.dtmfResult.tones) === '["four"]', JSON.stringify(recognized.data));
step("startRecognizing + RecognizeCompleted");

await connection.hangUp(true);
await waitFor(id, "CallDisconnected");
step("hangUp(true) + CallDisconnected");

const created = await client.createCall({ targetParticipant: { phoneNumber: AGENT }, sourceCallIdNumber: { phoneNumber: APP_NUMBER } }, CALLBACK);
const outId = created.callConnectionProperties.callConnectionId;
await waitFor(outId, "CallConnected");
await client.getCallConnection(outId).hangUp(false);
await waitFor(outId, "CallDisconnected");
step("createCall + hangUp(false)");

const endpoint = CONN.split(";")[0];
const wrong = new CallAutomationClient(`${endpoint};accesskey=d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktISE=`);
try {
  await wrong.getCallConnection(outId).getCallConnectionProperties();
  throw new Error("a wrong key must be refused");
} catch (error) {
  assert(error.statusCode === 401, `expected 401, got ${error.statusCode}: ${error.message}`);
}
step("401 for a wrong key");

assert(tokens > 0, "callbacks carry bearer tokens");
console.log(`js sdk conformance: ${passed} checks passed`);
server.close();
process.exit(0);
