// The try page: renders what the server says one person sees (Block Kit, as Slack would) and posts what
// they do. No library, no build step: the server answers JSON, this file turns it into HTML.
"use strict";

const EMOJI = {
  warning: "⚠️", white_check_mark: "✅", rotating_light: "🚨", x: "❌", mag: "🔍", hourglass: "⌛",
  hourglass_flowing_sand: "⏳", package: "📦", test_tube: "🧪", telephone_receiver: "📞", page_facing_up: "📄",
  no_entry: "⛔", lock: "🔒", unlock: "🔓", alarm_clock: "⏰", wave: "👋", spiral_calendar_pad: "🗓️",
  repeat: "🔁", microscope: "🔬", memo: "📝", file_folder: "📁", clipboard: "📋", boom: "💥",
  bar_chart: "📊", calendar: "📆", bell: "🔔", pushpin: "📌", heavy_check_mark: "✔️", red_circle: "🔴",
  large_green_circle: "🟢", large_yellow_circle: "🟡", construction: "🚧", inbox_tray: "📥",
  outbox_tray: "📤", link: "🔗", pencil: "✏️", thumbsup: "👍", eyes: "👀", double_vertical_bar: "⏸️",
  arrow_right: "➡️", information_source: "ℹ️", stopwatch: "⏱️", scroll: "📜", key: "🔑", email: "📧",
};

const S = { me: null, conversation: null, state: null, shown: {}, modalKey: null, files: {} };
const $ = (id) => document.getElementById(id);

function esc(text) {
  return String(text ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}
const unescapeSlack = (text) => text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

function userName(id) { return (S.state && S.state.names[id]) || "someone"; }
function channelName(id) { return (S.state && S.state.channels[id]) || "a channel"; }

// Slack's mrkdwn: <links|label>, <@U…> and <#C…> as names, ```blocks```, `code`, *bold*, _italics_,
// ~strike~ and :emoji:. Text arrives escaped the Slack way (&amp; &lt; &gt;).
function mrkdwn(text) {
  const held = [];
  const hold = (html) => { held.push(html); return `\u0000${held.length - 1}\u0000`; };
  let out = String(text ?? "").replace(/<([^<>]+)>/g, (_, inner) => {
    const [target, label] = inner.split("|");
    if (target.startsWith("@")) return hold(`<span class="mention">@${esc(label || userName(target.slice(1)))}</span>`);
    if (target.startsWith("#")) return hold(`<span class="mention">#${esc(label || channelName(target.slice(1)))}</span>`);
    if (target.startsWith("!")) return hold(`<span class="mention">@${esc((label || target.slice(1)).split("^")[0])}</span>`);
    const href = unescapeSlack(target);
    const safe = /^(https?:|mailto:|\/)/.test(href) ? href : "#";
    return hold(`<a href="${esc(safe)}" target="_blank" rel="noopener">${esc(unescapeSlack(label || target))}</a>`);
  });
  out = esc(unescapeSlack(out));
  out = out.replace(/```\n?([\s\S]*?)```/g, (_, code) => hold(`<pre>${code}</pre>`));
  out = out.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${code}</code>`));
  out = out.replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/g, "$1<b>$2</b>");
  out = out.replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/g, "$1<i>$2</i>");
  out = out.replace(/(^|[\s(])~([^~\n]+)~(?=$|[\s).,:;!?])/g, "$1<s>$2</s>");
  out = out.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || `<span class="emoji-word">${whole}</span>`);
  out = out.split("\n").map((line) => (line.startsWith("&gt;") ? `<blockquote>${line.slice(4)}</blockquote>` : `${line}\n`)).join("");
  out = out.replace(/\n(?!$)/g, "<br>").replace(/\n$/, "");
  return out.replace(/\u0000(\d+)\u0000/g, (_, i) => held[Number(i)]);
}

function textObject(obj) {
  if (!obj) return "";
  if (typeof obj === "string") return esc(obj);
  if (obj.type === "mrkdwn") return mrkdwn(obj.text);
  return esc(obj.text).replace(/:([a-z0-9_+-]+):/g, (w, n) => EMOJI[n] || w);
}

function optionsOf(el) {
  if (el.option_groups) return el.option_groups.flatMap((g) => g.options.map((o) => ({ ...o, group: g.label })));
  return el.options || [];
}

function optionTags(el, chosen) {
  const picked = new Set(chosen);
  const tag = (o) => `<option value="${esc(o.value)}"${picked.has(o.value) ? " selected" : ""}>${textObject(o.text)}</option>`;
  if (el.option_groups) {
    return el.option_groups.map((g) => `<optgroup label="${esc(g.label.text)}">${g.options.map(tag).join("")}</optgroup>`).join("");
  }
  return (el.options || []).map(tag).join("");
}

function peopleTags(chosen) {
  const picked = new Set(chosen);
  return S.state.people.map((p) => `<option value="${esc(p.id)}"${picked.has(p.id) ? " selected" : ""}>${esc(p.name)}</option>`).join("");
}

// An interactive element of a message, of Home or of a modal's section/actions block.
function element(el, where) {
  const attrs = `data-action="${esc(el.action_id)}" data-where='${esc(JSON.stringify(where))}'`;
  switch (el.type) {
    case "button": {
      const style = el.style ? ` ${el.style}` : "";
      const confirm = el.confirm ? ` data-confirm="${esc((el.confirm.text || {}).text || "Are you sure?")}"` : "";
      if (el.url) return `<a class="button${style}" href="${esc(el.url)}" target="_blank" rel="noopener">${textObject(el.text)}</a>`;
      return `<button type="button" class="action${style}" ${attrs}${confirm} data-value="${esc(el.value ?? "")}">${textObject(el.text)}</button>`;
    }
    case "static_select": case "external_select": case "overflow":
      return `<select class="action" ${attrs}><option value="">${textObject(el.placeholder) || "…"}</option>${optionTags(el, [])}</select>`;
    case "users_select":
      return `<select class="action" ${attrs}><option value="">${textObject(el.placeholder) || "Pick a person"}</option>${peopleTags([el.initial_user])}</select>`;
    case "datepicker":
      return `<input type="date" class="action" ${attrs} value="${esc(el.initial_date || "")}">`;
    default:
      return `<span class="unsupported">${esc(el.type)}</span>`;
  }
}

function block(b, where) {
  switch (b.type) {
    case "header": return `<h3 class="bk-header">${textObject(b.text)}</h3>`;
    case "divider": return "<hr>";
    case "section": {
      const fields = b.fields ? `<div class="fields">${b.fields.map((f) => `<div>${textObject(f)}</div>`).join("")}</div>` : "";
      const side = b.accessory ? `<div class="accessory">${element(b.accessory, where)}</div>` : "";
      return `<div class="bk-section"><div class="bk-text">${textObject(b.text)}${fields}</div>${side}</div>`;
    }
    case "context":
      return `<div class="bk-context">${(b.elements || []).map((e) => (e.type === "image" ? "" : `<span>${textObject(e)}</span>`)).join(" ")}</div>`;
    case "actions":
      return `<div class="bk-actions">${(b.elements || []).map((e) => element(e, where)).join("")}</div>`;
    case "image": {
      const src = b.slack_file ? `/files/${encodeURIComponent(b.slack_file.id)}` : (b.image_url || "");
      return /^(\/|data:)/.test(src) ? `<img class="bk-image" src="${esc(src)}" alt="${esc(b.alt_text)}">` : `<p>${esc(b.alt_text)}</p>`;
    }
    case "rich_text":
      return `<div class="bk-section">${esc(JSON.stringify(b.elements).replace(/"text":"([^"]*)"/g, "$1"))}</div>`;
    case "input": return input(b);
    default: return "";
  }
}

function blocks(list, where) { return (list || []).map((b) => block(b, where)).join(""); }

// Inputs of a modal, each named by its block_id; `collect` reads them back in the sender's value shapes.
function input(b) {
  const el = b.element || {};
  const id = `in-${b.block_id}`;
  const data = `id="${esc(id)}" data-block="${esc(b.block_id)}" data-kind="${esc(el.type)}"`;
  let control;
  switch (el.type) {
    case "plain_text_input": case "number_input": case "email_text_input": case "url_text_input":
      control = el.multiline
        ? `<textarea ${data} placeholder="${esc((el.placeholder || {}).text || "")}">${esc(el.initial_value || "")}</textarea>`
        : `<input ${data} type="text" placeholder="${esc((el.placeholder || {}).text || "")}" value="${esc(el.initial_value || "")}">`;
      break;
    case "static_select": case "external_select": case "radio_buttons":
      control = `<select ${data}><option value="">${textObject(el.placeholder) || "Choose…"}</option>${optionTags(el, [el.initial_option && el.initial_option.value])}</select>`;
      break;
    case "multi_static_select": case "multi_external_select":
      control = `<select multiple ${data}>${optionTags(el, (el.initial_options || []).map((o) => o.value))}</select>`;
      break;
    case "users_select":
      control = `<select ${data}><option value="">${textObject(el.placeholder) || "Pick a person"}</option>${peopleTags([el.initial_user])}</select>`;
      break;
    case "multi_users_select": {
      const on = new Set(el.initial_users || []);
      control = `<div ${data} class="checks people">${S.state.people.map((p) => `<label><input type="checkbox" value="${esc(p.id)}"${on.has(p.id) ? " checked" : ""}> ${esc(p.name)}</label>`).join("")}</div>`;
      break;
    }
    case "conversations_select": case "channels_select": {
      const initial = el.initial_conversation || el.initial_channel;
      const channels = S.state.conversations.filter((c) => !c.is_im);
      control = `<select ${data}><option value="">${textObject(el.placeholder) || "Pick a channel"}</option>${channels.map((c) => `<option value="${esc(c.id)}"${c.id === initial ? " selected" : ""}>#${esc(c.name)}</option>`).join("")}</select>`;
      break;
    }
    case "datepicker":
      control = `<input type="date" ${data} value="${esc(el.initial_date || "")}">`;
      break;
    case "timepicker":
      control = `<input type="time" ${data} value="${esc(el.initial_time || "")}">`;
      break;
    case "checkboxes": {
      const on = new Set((el.initial_options || []).map((o) => o.value));
      control = `<div ${data} class="checks">${optionsOf(el).map((o) => `<label><input type="checkbox" value="${esc(o.value)}"${on.has(o.value) ? " checked" : ""}> ${textObject(o.text)}</label>`).join("")}</div>`;
      break;
    }
    case "file_input":
      control = `<input type="file" ${data}${(el.max_files || 1) > 1 ? " multiple" : ""}>`;
      break;
    default:
      control = `<span class="unsupported">${esc(el.type)}</span>`;
  }
  const hint = b.hint ? `<small class="hint">${textObject(b.hint)}</small>` : "";
  const optional = b.optional ? ' <span class="optional">(optional)</span>' : "";
  return `<div class="bk-input" data-field="${esc(b.block_id)}"><label for="${esc(id)}">${textObject(b.label)}${optional}</label>${control}${hint}<p class="field-error" role="alert"></p></div>`;
}

async function collect(form) {
  const values = {};
  for (const node of form.querySelectorAll("[data-block]")) {
    const kind = node.dataset.kind;
    let value;
    if (node.tagName === "SELECT" && node.multiple) value = [...node.selectedOptions].map((o) => o.value);
    else if (kind === "checkboxes" || kind === "multi_users_select") value = [...node.querySelectorAll("input:checked")].map((i) => i.value);
    else if (kind === "file_input") value = await upload(node.files);
    else value = node.value === "" ? null : node.value;
    values[node.dataset.block] = value;
  }
  return values;
}

async function upload(fileList) {
  const ids = [];
  for (const file of fileList) {
    const answer = await fetch(`/api/upload?as=${S.me}&name=${encodeURIComponent(file.name)}`, { method: "POST", headers: { "X-Try-Page": "1" }, body: file });
    const body = await answer.json();
    if (body.error) throw new Error(body.error);
    ids.push(body.id);
  }
  return ids;
}

async function post(path, payload) {
  const answer = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-Try-Page": "1" }, body: JSON.stringify({ as: S.me, ...payload }) });
  const body = await answer.json();
  if (body.error) { $("notice").textContent = body.error; throw new Error(body.error); }
  $("notice").textContent = "";
  return body;
}

function message(m) {
  const who = m.ephemeral ? "cmo-bot" : userName(m.user);
  const body = m.blocks && m.blocks.length ? blocks(m.blocks, { channel: S.conversation, ts: m.ts }) : `<div class="bk-text">${mrkdwn(m.text)}</div>`;
  const files = (m.files || []).map((f) => `<a class="file" href="${esc(f.url)}" download="${esc(f.name)}">📎 ${esc(f.name)}</a>`).join("");
  const note = m.ephemeral ? '<span class="ephemeral">Only visible to you</span>' : (m.edited ? '<span class="edited">(edited)</span>' : "");
  return `<article class="message${m.ephemeral ? " is-ephemeral" : ""}" data-ts="${esc(m.ts)}"><div class="meta"><b>${esc(who)}</b> ${note}</div>${body}${files}</article>`;
}

function renderSidebar(st) {
  const item = (c) => `<button type="button" class="conv${c.id === S.conversation ? " active" : ""}" data-conversation="${esc(c.id)}">${c.is_im ? "💬 " : "# "}${esc(c.name)}${c.external ? " ⇄" : ""}</button>`;
  $("channels").innerHTML = st.conversations.filter((c) => !c.is_im).map(item).join("");
  $("dms").innerHTML = st.conversations.filter((c) => c.is_im).map(item).join("");
  $("home-link").classList.toggle("active", S.conversation === "home");
}

function renderMain(st) {
  const conv = st.conversations.find((c) => c.id === S.conversation);
  $("title").textContent = S.conversation === "home" ? "Home — cmo-bot" : conv ? (conv.is_im ? "cmo-bot (direct message)" : `#${conv.name}`) : "Pick a conversation";
  $("composer").hidden = !conv;
  const html = S.conversation === "home"
    ? (st.home ? `<div class="home">${blocks(st.home.blocks, { view_id: st.home.id })}</div>` : "<p>Opening Home…</p>")
    : st.messages.map(message).join("") || (conv ? '<p class="empty">No messages yet. Try <code>/cmo help</code>.</p>' : "");
  if (S.shown.main !== html) {
    const box = $("messages");
    const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.innerHTML = html;
    S.shown.main = html;
    if (atEnd || S.shown.jump) box.scrollTop = box.scrollHeight;
    S.shown.jump = false;
  }
}

function renderModal(st) {
  const dialog = $("modal");
  const view = st.modal;
  if (!view) {
    if (dialog.open) dialog.close();
    S.modalKey = null;
    return;
  }
  const key = `${view.id}:${view.hash}`;
  if (S.modalKey === key) return;
  S.modalKey = key;
  dialog.dataset.viewId = view.id;
  $("modal-title").innerHTML = textObject(view.title);
  $("modal-body").innerHTML = blocks(view.blocks, { view_id: view.id });
  $("modal-error").textContent = "";
  $("modal-submit").hidden = !view.submit;
  $("modal-submit").innerHTML = textObject(view.submit) || "Submit";
  $("modal-close").innerHTML = textObject(view.close) || "Cancel";
  if (!dialog.open) dialog.showModal();
}

function render(st) {
  S.state = st;
  const picker = $("person");
  if (!picker.options.length) {
    picker.innerHTML = st.people.map((p) => `<option value="${esc(p.id)}">${esc(p.name)} — ${esc(p.role)}</option>`).join("");
    picker.value = S.me;
  }
  $("clock").textContent = `${new Date(st.now).toLocaleString("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" })} UTC`;
  $("authenticator").textContent = st.authenticator ? `📱 ${st.authenticator}` : "";
  renderSidebar(st);
  renderMain(st);
  renderModal(st);
}

let polling = null;
async function refresh() {
  const params = new URLSearchParams({ as: S.me });
  if (S.conversation) params.set("conversation", S.conversation);
  try {
    const answer = await fetch(`/api/state?${params}`);
    if (answer.ok) render(await answer.json());
  } finally {
    clearTimeout(polling);
    polling = setTimeout(refresh, 800);
  }
}

async function choose(conversation) {
  S.conversation = conversation;
  S.shown.jump = true;
  localStorage.setItem(`conversation:${S.me}`, conversation);
  if (conversation === "home") await post("/api/home", {});
  await refresh();
}

document.addEventListener("click", async (event) => {
  const conv = event.target.closest("[data-conversation]");
  if (conv) { await choose(conv.dataset.conversation); return; }
  const button = event.target.closest("button.action");
  if (!button) return;
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const where = JSON.parse(button.dataset.where);
  button.disabled = true;
  try { await post("/api/action", { ...where, action_id: button.dataset.action, value: button.dataset.value || null }); }
  finally { button.disabled = false; }
  refresh();
});

document.addEventListener("change", async (event) => {
  const node = event.target.closest("select.action, input.action");
  if (!node || !node.value) return;
  const where = JSON.parse(node.dataset.where);
  await post("/api/action", { ...where, action_id: node.dataset.action, value: node.value });
  refresh();
});

$("person").addEventListener("change", async (event) => {
  S.me = event.target.value;
  localStorage.setItem("person", S.me);
  S.modalKey = null;
  S.shown = {};
  S.conversation = localStorage.getItem(`conversation:${S.me}`);
  await refresh();
});

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("command").value;
  await post("/api/command", { channel: S.conversation, text });
  $("command").value = "";
  refresh();
});

$("modal-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = $("modal-form");
  form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
  form.querySelectorAll(".bk-input").forEach((d) => d.classList.remove("has-error"));
  $("modal-submit").disabled = true;
  try {
    const values = await collect(form);
    const answer = await post("/api/submit", { view_id: $("modal").dataset.viewId, values });
    for (const [field, text] of Object.entries(answer.errors || {})) {
      const holder = form.querySelector(`[data-field="${CSS.escape(field)}"]`);
      if (holder) { holder.classList.add("has-error"); holder.querySelector(".field-error").textContent = text; }
      else $("modal-error").textContent = text;
    }
    const first = form.querySelector(".has-error");
    if (first) first.scrollIntoView({ block: "center" });
    if (!Object.keys(answer.errors || {}).length) { S.modalKey = null; $("modal").close(); }
  } catch (error) {
    $("modal-error").textContent = error.message;
  } finally {
    $("modal-submit").disabled = false;
  }
  refresh();
});

$("modal-close").addEventListener("click", async () => {
  const viewId = $("modal").dataset.viewId;
  $("modal").close();
  await post("/api/close", { view_id: viewId });
  refresh();
});
$("modal").addEventListener("cancel", (event) => { event.preventDefault(); $("modal-close").click(); });

$("travel-go").addEventListener("click", async () => {
  const answer = await post("/api/clock", { hours: Number($("travel").value) });
  $("notice").textContent = `The scheduler ran: ${answer.queued} queued, ${answer.sent} sent.`;
  refresh();
});

S.me = localStorage.getItem("person") || "U0PAT";
S.conversation = localStorage.getItem(`conversation:${S.me}`);
refresh();
