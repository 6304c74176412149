// The instructor's page: three views of /api/instructor/..., chosen by the address's #fragment
// (#lessons/<lesson>, #learners, #learners/<id>/<lesson>, #queue), so that the browser's back button,
// a bookmark and the keyboard all work. Every text from the server goes in with textContent, never
// as HTML: learner names and feedback are the learners' own text.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { signedIn: false, lessons: [], rows: [], sort: { key: "learner", direction: 1 } };

// The token stays in this tab (sessionStorage) and goes only in the Authorization header.
async function call(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { Authorization: "Bearer " + sessionStorage.getItem("token") } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ detail: response.statusText }));
    throw new Error(body.detail);
  }
  return response;
}

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

// A Python name (a lesson, an exercise, a test) in code type, which may wrap after each
// underscore and nowhere else: "make_lifespan_app" never becomes "make_lif / espan_app".
function codeName(name) {
  const code = element("code");
  name.split(/(?<=_)/).forEach((part, index) => {
    if (index) code.append(element("wbr"));
    code.append(part);
  });
  return code;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

const percent = (share) => `${Math.round(share * 100)} %`;
const number = (value) => (value === null || value === undefined ? "–" : String(Math.round(value * 10) / 10));
const score = (row) => (row.score === null ? "not graded" : `${number(row.score)} / ${number(row.max_score)}`);
const when = (seconds) => (seconds
  ? new Date(seconds * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${seconds.toFixed(1)} s`;
  return seconds < 5400 ? `${Math.round(seconds / 60)} min` : `${(seconds / 3600).toFixed(1)} h`;
}

// A test's name as a label: without the "test_" every test has, with spaces where pytest has
// underscores, so that it wraps at words; the full name stays in the title (hover) and the table.
const shortName = (test) => test.replace(/^test_/, "").replaceAll("_", " ");

function bar(share, className = "") {
  const track = element("span", undefined, "track " + className);
  const fill = element("span", undefined, "fill");
  fill.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
  track.append(fill);
  return track;
}

// Vertical bars (a histogram, submissions per hour), drawn in HTML so that the labels are text
// that wraps rather than SVG text that overlaps. ``columns`` holds {count, label, title, tick}.
function drawColumns(holder, columns, description) {
  holder.replaceChildren();
  holder.setAttribute("aria-label", description);
  const most = Math.max(1, ...columns.map((column) => column.count));
  for (const column of columns) {
    const item = element("div", undefined, "column");
    item.title = column.title;
    const space = element("span", undefined, "space");
    const fill = element("span", undefined, "fill");
    fill.style.height = `${(column.count / most) * 85}%`; // the top 15 % holds the tallest one's count
    space.append(element("span", column.count ? String(column.count) : "", "value"), fill);
    item.append(space, element("span", column.tick === false ? "" : column.label, "tick"));
    holder.append(item);
  }
}

// Five time labels under an hourly chart (first, last and three between), placed under their
// hours but kept inside the chart: as many columns as 168 hours leave no room for a label each.
function drawTimeAxis(holder, hours, withDay) {
  const format = withDay ? { weekday: "short", hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit" };
  const last = hours.length - 1;
  holder.replaceChildren(...[0, 0.25, 0.5, 0.75, 1].map((fraction) => {
    const index = Math.round(fraction * last);
    const label = element("span", new Date(hours[index] * 1000).toLocaleString([], format));
    label.style.left = `${fraction === 0 ? 0 : fraction === 1 ? 100 : ((index + 0.5) / hours.length) * 100}%`;
    label.className = fraction === 0 ? "first" : fraction === 1 ? "last" : fraction === 0.5 ? "" : "quarter";
    return label;
  }));
}

// -- the lesson view -----------------------------------------------------------------------------

async function showLesson(lesson) {
  $("lesson").value = lesson;
  $("lessons-title").textContent = `Lesson ${lesson}`;
  const view = await (await call(`/api/instructor/lessons/${encodeURIComponent(lesson)}`)).json();
  $("lesson-summary").textContent = view.learners === 0 ? "No graded submissions of this lesson yet."
    : `${view.learners} learners graded (their latest submission). Mean ${number(view.mean)}, median ` +
      `${number(view.median)}, out of ${number(view.max_score)}.`;
  drawColumns($("histogram"), view.histogram.map((bin, index) => {
    const last = index === view.histogram.length - 1;
    const range = `${number(bin.low)}–${number(bin.high)}`;
    return { count: bin.count, label: range, title: `${bin.count} learners scored ${range}${last ? " (full marks too)" : ""}` };
  }), "Score histogram: " +
    view.histogram.map((bin) => `${bin.count} learners from ${number(bin.low)} to ${number(bin.high)}`).join(", "));

  const exercises = $("exercises").tBodies[0];
  exercises.replaceChildren();
  for (const exercise of view.exercises) {
    const row = exercises.insertRow();
    row.insertCell().append(codeName(exercise.exercise));
    cell(row, `${number(exercise.mean)} / ${number(exercise.max_score)}`, "number");
    const mean = row.insertCell();
    mean.append(bar(exercise.mean_share), element("span", percent(exercise.mean_share), "share"));
    cell(row, percent(exercise.full_marks), "number");
  }

  const chart = $("test-chart");
  chart.replaceChildren();
  const tests = $("tests").tBodies[0];
  tests.replaceChildren();
  for (const test of view.tests) {
    const item = element("li");
    const label = element("span", shortName(test.test), "label");
    label.title = `${test.exercise}: ${test.test}`;
    const discrimination = test.discrimination === null ? "–" : test.discrimination.toFixed(2);
    // Below 0.2 classical item analysis calls poor: the test hardly tells strong and weak learners apart.
    const weak = test.discrimination !== null && test.discrimination < 0.2;
    item.append(label, bar(test.rate), element("span", percent(test.rate), "share"),
      element("span", `d ${discrimination}`, weak ? "discrimination weak" : "discrimination"));
    chart.append(item);
    const row = tests.insertRow();
    row.insertCell().append(codeName(test.test));
    row.insertCell().append(codeName(test.exercise));
    cell(row, `${test.passed} / ${test.graded}`, "number");
    cell(row, percent(test.rate), "number");
    cell(row, discrimination, "number");
  }
}

// -- the learners view ---------------------------------------------------------------------------

const sortKeys = {
  learner: (row) => row.learner.toLocaleLowerCase(),
  lesson: (row) => row.lesson,
  score: (row) => (row.max_score ? row.score / row.max_score : 0),
  when: (row) => row.graded_at || 0,
};

function showLearners() {
  const wanted = $("filter").value.trim().toLocaleLowerCase();
  const lesson = $("lesson-filter").value;
  const { key, direction } = state.sort;
  const rows = state.rows
    .filter((row) => row.learner.toLocaleLowerCase().includes(wanted) && (!lesson || row.lesson === lesson))
    .sort((a, b) => {
      const [x, y] = [sortKeys[key](a), sortKeys[key](b)];
      return (x < y ? -1 : x > y ? 1 : a.learner.localeCompare(b.learner) || a.lesson.localeCompare(b.lesson)) * direction;
    });
  const body = $("learners").tBodies[0];
  body.replaceChildren();
  for (const row of rows) {
    const tr = body.insertRow();
    const link = element("a", row.learner);
    link.href = `#learners/${row.learner_id}/${encodeURIComponent(row.lesson)}`;
    tr.insertCell().append(link);
    tr.insertCell().append(codeName(row.lesson));
    cell(tr, score(row), "number");
    cell(tr, when(row.graded_at));
    tr.addEventListener("click", (event) => { if (event.target.tagName !== "A") link.click(); });
  }
  $("shown").textContent = `${rows.length} of ${state.rows.length} shown`;
  for (const th of $("learners").tHead.rows[0].cells) {
    th.setAttribute("aria-sort", th.dataset.key === key ? (direction > 0 ? "ascending" : "descending") : "none");
  }
}

async function showLearner(learnerId, lesson) {
  const view = await (await call(`/api/instructor/learners/${learnerId}?lesson=${encodeURIComponent(lesson)}`)).json();
  $("learner-title").textContent = `${view.learner}: ${lesson}`;
  const feedback = view.feedback;
  $("feedback-about").textContent = feedback === null ? "No finished submission of this lesson yet."
    : `Submission ${feedback.submission}, ${feedback.status}, ${score(feedback)}, graded ${when(feedback.graded_at)}. ` +
      "As the learner read it:";
  $("feedback").textContent = feedback === null ? "" : feedback.text;
  $("feedback").hidden = feedback === null;
  const body = $("history").tBodies[0];
  body.replaceChildren();
  for (const each of view.history) {
    const row = body.insertRow();
    if (feedback && each.submission === feedback.submission) row.className = "shown";
    cell(row, when(each.created_at));
    row.insertCell().append(codeName(each.lesson));
    cell(row, each.status);
    cell(row, each.status === "done" || each.status === "failed" ? score(each) : "–", "number");
    cell(row, each.graded_at ? duration(each.graded_at - each.created_at) : "–", "number");
  }
  const dialog = $("learner");
  if (!dialog.open) dialog.showModal();
  $("close-learner").focus();
}

// -- the queue view ------------------------------------------------------------------------------

async function showQueue() {
  const view = await (await call(`/api/instructor/queue?hours=${$("hours").value}`)).json();
  const c = view.counts;
  $("now").replaceChildren(...[
    [c.queued, "waiting"], [c.running, "grading now"], [c.done, "graded"],
    [c.failed, "failed (stopped its worker 3 times)"], [c.error, "not graded: grader error"],
    [duration(view.median_seconds_to_feedback), `median time to feedback, last ${view.hours} h`],
  ].map(([value, label]) => {
    const card = element("li");
    card.append(element("strong", String(value)), element("span", label));
    return card;
  }));
  drawColumns($("per-hour"), view.per_hour.map((each) => ({
    count: each.count, label: "", title: `${when(each.hour)}: ${each.count} submissions`,
  })), `Submissions per hour over the last ${view.hours} hours: ` +
    view.per_hour.filter((each) => each.count).map((each) => `${each.count} at ${when(each.hour)}`).join(", "));
  drawTimeAxis($("per-hour-axis"), view.per_hour.map((each) => each.hour), view.hours > 24);
  const busiest = view.per_hour.reduce((top, each) => (each.count > top.count ? each : top), { count: 0 });
  $("busiest").textContent = busiest.count
    ? `Busiest hour: ${when(busiest.hour)}, ${busiest.count} submissions.` : "No submissions.";

  const failures = $("failures").tBodies[0];
  failures.replaceChildren();
  for (const failure of view.grader_errors) {
    const row = failures.insertRow();
    cell(row, failure.learner);
    row.insertCell().append(codeName(failure.lesson));
    cell(row, when(failure.at));
    cell(row, failure.reason, "reason");
  }
  $("no-errors").hidden = view.grader_errors.length > 0;
  $("some-errors").hidden = view.grader_errors.length === 0;
}

// -- navigation ----------------------------------------------------------------------------------

async function route() {
  if (!state.signedIn) return; // the address changed before the class arrived: signIn routes once it has
  const [view, ...rest] = decodeURIComponent(location.hash.slice(1)).split("/");
  const name = ["lessons", "learners", "queue"].includes(view) ? view : "lessons";
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== `${name}-view`;
  for (const link of $("views").querySelectorAll("a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (name !== "learners" || rest.length < 2) closeLearner();
  try {
    if (name === "lessons" && state.lessons.length) await showLesson(state.lessons.includes(rest[0]) ? rest[0] : firstLesson());
    if (name === "learners") {
      showLearners();
      if (rest.length >= 2) await showLearner(rest[0], rest[1]);
    }
    if (name === "queue") await showQueue();
  } catch (error) {
    $("error").textContent = error.message;
  }
}

function firstLesson() {
  // The first lesson anyone was graded on (an empty lesson's view says little).
  return state.lessons.find((lesson) => state.rows.some((row) => row.lesson === lesson)) || state.lessons[0];
}

function closeLearner() {
  if ($("learner").open) $("learner").close();
}

async function signIn() {
  $("error").textContent = "";
  try {
    const view = await (await call("/api/instructor/class")).json();
    state.lessons = view.lessons;
    state.rows = view.rows;
    const c = view.counts;
    $("counts").textContent = `${c.done} graded, ${c.queued} queued, ${c.running} grading, ${c.failed} failed, ` +
      `${c.error} not graded (grader error)`;
    const options = () => state.lessons.map((lesson) => new Option(lesson, lesson));
    $("lesson").replaceChildren(...options());
    $("lesson-filter").replaceChildren(new Option("All lessons", ""), ...options());
    $("login").hidden = true;
    $("views").hidden = false;
    state.signedIn = true;
    await route();
  } catch (error) {
    $("error").textContent = error.message;
    for (const section of document.querySelectorAll(".view")) section.hidden = true;
    $("views").hidden = true;
  }
}

async function download(path, name) {
  try {
    const blob = await (await call(path)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
  } catch (error) { $("error").textContent = error.message; }
}

async function post(path, output, describe) {
  try {
    $(output).textContent = describe(await (await call(path, { method: "POST" })).json());
  } catch (error) { $("error").textContent = error.message; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem("token", $("token").value.trim());
    signIn();
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem("token");
    location.hash = "";
    location.reload();
  });
  window.addEventListener("hashchange", route);
  $("lesson").addEventListener("change", () => { location.hash = `#lessons/${$("lesson").value}`; });
  $("filter").addEventListener("input", showLearners);
  $("lesson-filter").addEventListener("change", showLearners);
  for (const th of $("learners").tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", () => {
      const { key, direction } = state.sort;
      state.sort = { key: th.dataset.key, direction: key === th.dataset.key ? -direction : 1 };
      showLearners();
    });
  }
  // Closing the learner (Close, or Escape) goes back to the table, to the row it came from.
  $("close-learner").addEventListener("click", () => closeLearner());
  $("learner").addEventListener("close", () => {
    const opened = location.hash;
    if (opened.split("/").length > 1) {
      history.replaceState(null, "", "#learners");
      document.querySelector(`#learners a[href="${CSS.escape(opened)}"]`)?.focus();
    }
  });
  $("hours").addEventListener("change", showQueue);
  $("grades").addEventListener("click", () => download("/api/instructor/grades.csv", "grades.csv"));
  $("gradescope").addEventListener("click", () => download("/api/instructor/gradescope.zip", "gradescope.zip"));
  $("regrade").addEventListener("click", () => post(`/api/instructor/regrade/${encodeURIComponent($("lesson").value)}`,
    "regraded", (answer) => `${answer.queued} submission(s) of ${answer.lesson} queued again`));
  $("retry").addEventListener("click", () => post("/api/instructor/retry", "retried",
    (answer) => `${answer.queued} submission(s) queued again`));
  if (sessionStorage.getItem("token")) signIn();
});
