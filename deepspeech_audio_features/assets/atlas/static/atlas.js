// Neuron atlas: sorting and filtering of the neuron cards (layer pages) and of the neuron
// table (index page). Plain JavaScript, no library, no network; works from file://.
// The state lives in the form's controls; atlasApply() re-reads them (tests call it too).
"use strict";

function atlasItems(list) {
  return Array.prototype.slice.call(list.querySelectorAll(":scope > [data-neuron]"));
}

function atlasNumber(item, key) {
  var v = parseFloat(item.dataset[key]);
  return isNaN(v) ? -Infinity : v;
}

var ATLAS_SORTS = {
  neuron: function (a, b) { return atlasNumber(a, "layerIndex") - atlasNumber(b, "layerIndex") || atlasNumber(a, "neuron") - atlasNumber(b, "neuron"); },
  layer: function (a, b) { return atlasNumber(a, "layerIndex") - atlasNumber(b, "layerIndex"); },
  selectivity: function (a, b) { return atlasNumber(b, "selectivity") - atlasNumber(a, "selectivity") || atlasNumber(a, "neuron") - atlasNumber(b, "neuron"); },
  iou: function (a, b) { return atlasNumber(b, "iou") - atlasNumber(a, "iou") || atlasNumber(a, "neuron") - atlasNumber(b, "neuron"); },
  activation: function (a, b) { return atlasNumber(b, "activation") - atlasNumber(a, "activation") || atlasNumber(a, "neuron") - atlasNumber(b, "neuron"); }
};

function atlasApply() {
  var form = document.querySelector("form.controls");
  var list = document.querySelector("[data-list]");
  if (!form || !list) return null;
  var get = function (name) { var el = form.elements.namedItem(name); return el ? el.value : ""; };
  var layer = get("layer"), phone = get("phone"), minText = get("min_selectivity"), sort = get("sort") || "neuron";
  var minimum = minText === "" ? -Infinity : parseFloat(minText);
  var items = atlasItems(list);
  items.sort(ATLAS_SORTS[sort] || ATLAS_SORTS.neuron);
  var shown = 0;
  items.forEach(function (item) {
    var visible = (!layer || item.dataset.layer === layer) && (!phone || item.dataset.phone === phone) &&
      !(atlasNumber(item, "selectivity") < minimum);
    item.hidden = !visible;
    if (visible) shown += 1;
    list.appendChild(item);  // moves it: the DOM order is the sorted order
  });
  var count = form.querySelector("output.count");
  if (count) count.textContent = shown + " of " + items.length + " shown";
  return {shown: shown, total: items.length};
}

function atlasReset() {
  var form = document.querySelector("form.controls");
  if (!form) return;
  Array.prototype.forEach.call(form.elements, function (el) {
    if (el.tagName === "SELECT") el.selectedIndex = 0; else if (el.tagName === "INPUT") el.value = "";
  });
  atlasApply();
}

function atlasShowTarget() {
  // A neuron's URL (#neuron-0039) must show it even when the filters would hide it.
  var id = decodeURIComponent(window.location.hash.slice(1));
  var target = id && document.getElementById(id);
  if (!target) return;
  if (target.hidden) atlasReset();
  target.classList.add("target");
  target.scrollIntoView();
}

function atlasPlay(button) {
  // A layer page's clips share one player: the button names the file, the player plays it.
  var player = document.querySelector("audio[data-shared-player]");
  if (!player) return null;
  var bar = player.parentNode;
  Array.prototype.forEach.call(document.querySelectorAll("button.play.playing"), function (b) { b.classList.remove("playing"); });
  button.classList.add("playing");
  var card = button.closest("[data-neuron]");
  bar.querySelector(".label").textContent = (card ? card.dataset.layer + " · neuron " + card.dataset.neuron + ": " : "") +
    button.title.replace(/^play /, "");
  bar.classList.add("active");
  if (player.getAttribute("src") !== button.dataset.audio) player.src = button.dataset.audio;
  var started = player.play();
  if (started && started.catch) started.catch(function () {});  // a blocked autoplay leaves the controls to the user
  return player;
}

document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form.controls");
  if (form) {
    form.addEventListener("input", atlasApply);
    form.addEventListener("change", atlasApply);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.play[data-audio]");
    if (button) atlasPlay(button);
  });
  // Only one player at a time.
  document.addEventListener("play", function (event) {
    Array.prototype.forEach.call(document.querySelectorAll("audio"), function (a) {
      if (a !== event.target) a.pause();
    });
  }, true);
  atlasApply();
  atlasShowTarget();
  window.addEventListener("hashchange", atlasShowTarget);
  document.documentElement.dataset.atlasReady = "1";
});
