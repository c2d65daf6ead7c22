/*
 * The progress page of a ranked report built in the background: asks the job's status every few
 * seconds, moves the bar, and shows the download link or the error when it ends.
 * No inline scripts (CSP script-src 'self'): the page's data-* attributes say where and how often.
 */
(function () {
  "use strict";
  var box = document.getElementById("report-job");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-status-url");
  var every = Math.max(0.5, parseFloat(box.getAttribute("data-poll-seconds")) || 1.5) * 1000;
  var stage = document.getElementById("job-stage");
  var bar = document.getElementById("job-progress");
  var percent = document.getElementById("job-percent");
  var error = document.getElementById("job-error");
  var ready = document.getElementById("job-ready");
  var link = document.getElementById("job-file");
  var failures = 0;

  function show(job) {
    box.setAttribute("data-state", job.state);
    bar.value = job.progress;
    bar.textContent = job.progress + " %";
    percent.textContent = job.progress + " %";
    if (job.state === "queued") stage.textContent = "Đang chờ đến lượt lập báo cáo…";
    else if (job.state === "running") stage.textContent = (job.stage || "Đang lập báo cáo") + "…";
    else if (job.state === "done") {
      stage.textContent = "Báo cáo đã sẵn sàng.";
      link.href = job.file_url;
      link.textContent = "Tải báo cáo" + (job.filename ? " (" + job.filename + ")" : "");
      ready.hidden = false;
      link.focus();
    } else {
      stage.textContent = "Không lập được báo cáo.";
      error.textContent = job.message || "Không lập được báo cáo.";
      error.hidden = false;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (job) {
        failures = 0;
        show(job);
        if (job.state === "queued" || job.state === "running") setTimeout(poll, every);
      })
      .catch(function () {
        failures += 1;
        stage.textContent = "Mất kết nối với máy chủ, đang thử lại…";
        setTimeout(poll, Math.min(30000, every * Math.pow(2, failures)));
      });
  }

  var state = box.getAttribute("data-state");
  if (state === "queued" || state === "running") setTimeout(poll, every);
})();
