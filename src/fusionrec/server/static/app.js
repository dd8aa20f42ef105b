// fusionrec's page: builds its form from GET /api/model, asks POST /api/recommend for the top k,
// and GET /api/items/{id}/similar when an item is clicked. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

function element(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function buildForm(model) {
  const store = model.store;
  $("model-summary").textContent =
    `${model.preset} model · ${store.count.toLocaleString()} items in ${store.backend}` +
    `${store.exact ? " (exact search)" : ""} · ${model.users.count.toLocaleString()} known users`;

  const fields = $("new-fields");
  for (const field of model.new_user_fields) {
    const label = element("label", {}, `${field.label} `);
    const select = element("select", { id: `field-${field.name}`, name: field.name });
    for (const option of field.options) {
      select.append(element("option", { value: String(option.value) }, option.label));
    }
    label.append(select);
    fields.append(label);
  }
  const examples = $("user-examples");
  for (const id of model.users.examples) examples.append(element("option", { value: String(id) }));
  if (model.users.count) {
    $("user-id").value = String(model.users.examples[0]);
    $("user-hint").textContent = `ids ${model.users.min_id}–${model.users.max_id}`;
  }

  const genres = $("genres");
  for (const genre of model.filters.genres) {
    const label = element("label");
    label.append(element("input", { type: "checkbox", value: genre }), document.createTextNode(genre));
    genres.append(label);
  }
  if (model.filters.years.length === 2) {
    $("year-min").placeholder = String(model.filters.years[0]);
    $("year-max").placeholder = String(model.filters.years[1]);
  }
  $("k").max = String(model.limits.max_k);
}

function switchMode() {
  const known = document.querySelector("input[name=mode]:checked").value === "known";
  $("known-fields").hidden = !known;
  $("new-fields").hidden = known;
  $("user-id").disabled = !known;
  for (const select of $("new-fields").querySelectorAll("select")) select.disabled = known;
}

function readFilter() {
  const genres = [...$("genres").querySelectorAll("input:checked")].map((box) => box.value);
  const lo = $("year-min").value, hi = $("year-max").value;
  const filter = {};
  if (genres.length) filter.genres_any = genres;
  if (lo !== "" || hi !== "") filter.year_between = [Number(lo || 0), Number(hi || 9999)];
  return Object.keys(filter).length ? filter : null;
}

function readRequest() {
  const request = { k: Number($("k").value) };
  if (document.querySelector("input[name=mode]:checked").value === "known") {
    request.user_id = Number($("user-id").value);
    request.exclude_seen = $("exclude-seen").checked;
  } else {
    for (const select of $("new-fields").querySelectorAll("select")) {
      const value = select.value;
      request[select.name] = /^-?\d+$/.test(value) ? Number(value) : value;
    }
  }
  const filter = readFilter();
  if (filter) request.filter = filter;
  return request;
}

function renderItems(list, items, onPick) {
  list.replaceChildren();
  if (!items.length) {
    list.append(element("li", { class: "empty" }, "No items matched."));
    return;
  }
  for (const item of items) {
    const row = element("li", { "data-movie-id": String(item.movie_id) });
    const title = element("span", { class: "title" }, item.title || `item ${item.movie_id}`);
    const meta = [item.year ? String(item.year) : "", item.genres.join(", ")].filter(Boolean);
    const scores = element("span", { class: "scores" });
    scores.append(document.createTextNode("score "), element("b", {}, item.score.toFixed(2)));
    if (item.rating !== null && item.rating !== undefined) {
      scores.append(element("br"), document.createTextNode(`rating ${item.rating.toFixed(2)}`));
    }
    row.append(title, scores, element("span", { class: "meta" }, meta.join(" · ")));
    if (onPick) {
      title.setAttribute("role", "button");
      title.tabIndex = 0;
      title.addEventListener("click", () => onPick(item, row));
      title.addEventListener("keydown", (event) => event.key === "Enter" && onPick(item, row));
    }
    list.append(row);
  }
}

async function showSimilar(item, row) {
  showError("");
  for (const other of document.querySelectorAll("#recommendation-list li")) {
    other.classList.toggle("selected", other === row);
  }
  try {
    const k = Number($("k").value) || 10;
    const body = await api(`/api/items/${item.movie_id}/similar?k=${k}`);
    $("similar-title").textContent = `Similar to ${item.title}`;
    renderItems($("similar-list"), body.items, null);
    $("similar").hidden = false;
  } catch (error) {
    showError(error.message);
  }
}

async function recommend(event) {
  event.preventDefault();
  showError("");
  const button = document.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const request = readRequest();
    const body = await api("/api/recommend", { method: "POST", body: JSON.stringify(request) });
    $("recommendations-title").textContent = request.user_id !== undefined
      ? `Top ${request.k} for user ${request.user_id}`
      : `Top ${request.k} for a new user`;
    renderItems($("recommendation-list"), body.items, showSimilar);
    $("similar").hidden = true;
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  try {
    buildForm(await api("/api/model"));
  } catch (error) {
    showError(`cannot load the model: ${error.message}`);
    return;
  }
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", switchMode);
  }
  switchMode();
  $("query").addEventListener("submit", recommend);
  document.body.dataset.ready = "true";
}

start();
