/*
 * Recording spoken prompts (/admin/campaigns/<id>/audio/<language>): record with the microphone
 * (MediaRecorder), listen back, record again, save (upload with the CSRF token); approving is a plain
 * form. Without this script, or without a microphone, each prompt still takes an uploaded file.
 */
(function () {
  "use strict";

  // The overview's "other language" box opens that language's page.
  var languageForm = document.querySelector("[data-audio-language-form]");
  if (languageForm) {
    languageForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var tag = languageForm.querySelector("input[name=lang]").value.trim();
      if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(tag)) return;
      window.location.href = languageForm.getAttribute("data-base") + "/" + encodeURIComponent(tag);
    });
  }

  var list = document.querySelector("[data-recorder]");
  if (!list) return;
  var errorBox = document.getElementById("recorder-error");
  var canRecord = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function mimeType() {
    var types = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    for (var i = 0; i < types.length; i += 1) {
      if (MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(types[i])) return types[i];
    }
    return "";
  }

  var active = null; // { recorder, stream, prompt }

  function stopActive() {
    if (active && active.recorder.state !== "inactive") active.recorder.stop();
  }

  function counts() {
    var recorded = list.querySelectorAll('[data-status="draft"], [data-status="approved"]').length;
    var approved = list.querySelectorAll('[data-status="approved"]').length;
    var box = document.getElementById("audio-progress");
    if (box) {
      box.querySelector("[data-recorded]").textContent = String(recorded);
      box.querySelector("[data-approved]").textContent = String(approved);
    }
  }

  function setup(section) {
    var controls = section.querySelector("[data-record-controls]");
    var recordButton = section.querySelector("[data-record]");
    var stopButton = section.querySelector("[data-stop]");
    var saveButton = section.querySelector("[data-save]");
    var preview = section.querySelector("[data-preview]");
    var saved = section.querySelector("[data-saved]");
    var status = section.querySelector("[data-clip-status]");
    var approve = section.querySelector("[data-approve]");
    var blob = null;
    controls.hidden = false;

    recordButton.addEventListener("click", function () {
      showError("");
      stopActive();
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        var type = mimeType();
        var recorder = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
        var chunks = [];
        active = { recorder: recorder, stream: stream };
        recorder.addEventListener("dataavailable", function (event) {
          if (event.data && event.data.size) chunks.push(event.data);
        });
        recorder.addEventListener("stop", function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          blob = new Blob(chunks, { type: recorder.mimeType || type || "audio/webm" });
          preview.src = URL.createObjectURL(blob);
          preview.hidden = false;
          recordButton.disabled = false;
          recordButton.textContent = "Ghi lại";
          stopButton.disabled = true;
          saveButton.disabled = blob.size === 0;
          section.classList.remove("is-recording");
        });
        recorder.start();
        section.classList.add("is-recording");
        recordButton.disabled = true;
        stopButton.disabled = false;
        saveButton.disabled = true;
      }).catch(function (error) {
        showError("Không dùng được micrô: " + (error && error.message ? error.message : error) +
          ". Xin cho phép trình duyệt dùng micrô, hoặc tải tệp âm thanh lên.");
      });
    });

    stopButton.addEventListener("click", stopActive);

    saveButton.addEventListener("click", function () {
      if (!blob) return;
      saveButton.disabled = true;
      saveButton.textContent = "Đang lưu…";
      var body = new FormData();
      body.append("csrf_token", list.getAttribute("data-csrf"));
      body.append("prompt", section.getAttribute("data-prompt"));
      body.append("source", "recorded");
      var ext = /ogg/.test(blob.type) ? "ogg" : (/mp4/.test(blob.type) ? "m4a" : "webm");
      body.append("file", blob, "ghi-am." + ext);
      fetch(list.getAttribute("data-upload-url"), {
        method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
      }).then(function (response) {
        return response.json().catch(function () {
          return { status: "error", message: "Máy chủ trả lời lỗi " + response.status + "." };
        });
      }).then(function (reply) {
        saveButton.textContent = "Lưu";
        if (reply.status !== "ok") {
          saveButton.disabled = false;
          showError(reply.message || "Chưa lưu được bản ghi âm.");
          return;
        }
        showError("");
        saved.src = reply.clip.url;
        saved.hidden = false;
        status.textContent = reply.clip.status_label;
        section.setAttribute("data-status", reply.clip.status);
        if (approve) approve.disabled = reply.clip.status === "approved";
        preview.hidden = true;
        blob = null;
        counts();
      }, function () {
        saveButton.textContent = "Lưu";
        saveButton.disabled = false;
        showError("Chưa kết nối được máy chủ: bản ghi âm chưa được lưu. Xin thử lại.");
      });
    });
  }

  if (!canRecord) {
    showError("Trình duyệt này không ghi âm được (cần HTTPS và micrô); vẫn có thể tải tệp âm thanh lên.");
    return;
  }
  Array.prototype.forEach.call(list.querySelectorAll("[data-prompt]"), setup);
})();
