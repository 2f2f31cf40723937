// Live progress of a deployment over Server-Sent Events. Text is set with textContent only, so
// nothing from the server is ever interpreted as HTML. A reload shows the current state again.
(function () {
  "use strict";
  var section = document.getElementById("progress");
  if (!section || section.dataset.final === "yes" || !window.EventSource) { return; }
  var source = new EventSource(section.dataset.events);

  function text(id, value) {
    var node = document.getElementById(id);
    if (node) { node.textContent = value; }
  }

  function stepItem(step) {
    var item = document.createElement("li");
    item.className = "step " + step.state;
    item.dataset.step = step.id;
    [["label", step.label], ["state", step.state_text], ["detail", step.detail]].forEach(function (part) {
      var span = document.createElement("span");
      span.className = part[0];
      span.textContent = part[1];
      item.appendChild(span);
      item.appendChild(document.createTextNode(" "));
    });
    return item;
  }

  source.addEventListener("progress", function (event) {
    var shown = JSON.parse(event.data);
    text("state", shown.state_text.charAt(0).toUpperCase() + shown.state_text.slice(1));
    text("percent", shown.percent + " %");
    text("eta", shown.eta);
    var bar = document.getElementById("bar");
    bar.value = shown.percent;
    bar.textContent = shown.percent + " %";
    section.className = "card state-" + shown.state;
    var list = document.getElementById("steps");
    if (shown.steps.length) {
      list.replaceChildren.apply(list, shown.steps.map(stepItem));
    }
    if (shown.final) {
      source.close();
      // The finished page (addresses, passwords, or what failed) is rendered by the server.
      window.location.reload();
    }
  });
})();
