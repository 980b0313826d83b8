// #/ : the newest jobs, their status and progress kept live by polling.
/* global document */
import { api } from "./api.js";
import { flash, h, jobName, problemText, progressBar, statusBadge, when } from "./ui.js";

export async function jobsPage(view) {
  let timer;
  let stopped = false;
  const body = h("tbody");
  const more = h("p.muted");
  view.replaceChildren(
    h("div.row", {}, h("h1", {}, "Jobs"), h("a.button", { href: "#/new" }, "Submit a job")),
    h("table.jobs", { "data-testid": "jobs-table" }, h("thead", {}, h("tr", {}, ["Name", "Method", "N:M", "Status", "Progress", "Created", "Id"].map((c) => h("th", {}, c)))), body),
    more,
  );
  const refresh = async () => {
    try {
      const page = await api("GET", "/v1/jobs?limit=50");
      flash("");
      body.replaceChildren(
        ...page.items.map((j) =>
          h("tr", { "data-job-id": j.id }, h("td", {}, h("a", { href: `#/jobs/${j.id}` }, jobName(j))), h("td", {}, j.spec?.method ?? ""), h("td", {}, j.spec?.pattern ?? ""), h("td", {}, statusBadge(j)), h("td", {}, progressBar(j)), h("td", {}, when(j.createdAt)), h("td.mono", {}, j.id.slice(0, 8))),
        ),
      );
      more.textContent = page.items.length === 0 ? "No jobs yet: submit one." : page.nextCursor ? "Showing the 50 newest jobs." : "";
    } catch (err) {
      flash(problemText(err));
    }
    // live status: poll while anything is unfinished, slowly otherwise
    if (!stopped) timer = setTimeout(refresh, document.hidden ? 10_000 : 2000);
  };
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
