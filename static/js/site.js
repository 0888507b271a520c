/* marvelsite: small progressive enhancements; every page works without this script. */
(function () {
  "use strict";

  /* Images from Marvel's CDN that fail to load fall back to the local placeholder. */
  function useFallback(img) {
    var fallback = img.getAttribute("data-fallback");
    if (fallback && img.getAttribute("src") !== fallback) {
      img.removeAttribute("data-fallback");
      img.setAttribute("src", fallback);
    }
  }
  document.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target.tagName === "IMG" && target.hasAttribute("data-fallback")) {
      useFallback(target);
    }
  }, true);
  function fixBrokenImages(root) {
    root.querySelectorAll("img[data-fallback]").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0) { useFallback(img); }
    });
  }

  /* Featured cards: "Reload!" swaps one card in place. The plain GET form (?ids=...&reload=id)
     still works without this script; the fragment endpoint takes the same parameters. */
  function setIds(container, ids) {
    container.querySelectorAll(".card-reload input[name=ids]").forEach(function (input) {
      input.value = ids;
    });
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", "?ids=" + encodeURIComponent(ids));
    }
  }

  function reloadCard(form, button) {
    var container = document.getElementById("featured");
    var item = form.closest("li");
    var card = form.closest(".card");
    var params = new URLSearchParams();
    params.set("ids", form.querySelector("input[name=ids]").value);
    params.set("reload", button.value);
    card.classList.add("is-loading");
    card.setAttribute("aria-busy", "true");
    button.disabled = true;
    return fetch(form.getAttribute("data-fragment-url") + "?" + params.toString(), {
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fragment = holder.querySelector("[data-featured-ids]");
      var newCard = fragment && fragment.querySelector(".card");
      if (!newCard) { throw new Error("no card in the response"); }
      item.replaceChildren(newCard);
      setIds(container, fragment.getAttribute("data-featured-ids"));
      fixBrokenImages(item);
      var status = document.getElementById("featured-status");
      var name = newCard.querySelector(".card-title");
      if (status && name) { status.textContent = "Now showing " + name.textContent.trim() + "."; }
      var newButton = newCard.querySelector(".card-reload button");
      if (newButton) { newButton.focus(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fixBrokenImages(document);
    var container = document.getElementById("featured");
    if (!container || !window.fetch || !window.URLSearchParams) { return; }
    container.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList.contains("card-reload")) { return; }
      var button = event.submitter || form.querySelector("button[name=reload]");
      if (!button || button.disabled) { return; }
      event.preventDefault();
      reloadCard(form, button).catch(function () {
        /* Fall back to the plain form: the server re-renders the page with this card re-rolled. */
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = "reload";
        hidden.value = button.value;
        form.appendChild(hidden);
        form.submit();
      });
    });
  });
})();
