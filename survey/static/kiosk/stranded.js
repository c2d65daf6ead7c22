/*
 * The "link no longer valid" page (kiosk/invalid.html): if this tablet still holds forms that were
 * never sent (the link was revoked or the campaign closed before they went), say so, so that nobody
 * wipes the browser's data before an administrator has decided what to do with them.
 */
(function (root) {
  "use strict";

  var Q = root.SipasQueue;
  var note = document.getElementById("k-stranded");
  if (!Q || !note || !Q.available()) return;

  function text(n) {
    return "Máy tính bảng này còn " + n + " phiếu chưa gửi lên máy chủ. Xin đừng xoá dữ liệu trình duyệt và " +
      "báo cán bộ quản trị. Mở một đường dẫn máy trạm còn hiệu lực trên máy này để xem và tải về các phiếu đó " +
      "trong bảng điều khiển cán bộ.";
  }

  // Look without creating: a phone that only ever saw this page must not get an empty outbox.
  var exists = typeof root.indexedDB.databases === "function" ?
    root.indexedDB.databases().then(function (list) {
      return list.some(function (db) { return db.name === "sipas-kiosk"; });
    }, function () { return false; }) :
    Promise.resolve(false);
  exists.then(function (found) {
    if (!found) return null;
    return Q.counts().then(function (counts) {
      var n = counts.pending + counts.attention;
      if (!n) return;
      note.textContent = text(n);
      note.hidden = false;
    });
  }).catch(function () { return null; });
})(window);
