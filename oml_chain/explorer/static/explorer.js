// OML Explorer: copy buttons and charts. Every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.copy");
    if (!b) return;
    var text = b.getAttribute("data-copy");
    var done = function () { b.classList.add("done");
      setTimeout(function () { b.classList.remove("done"); }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {  // http on a non-loopback host: fall back to a selection copy
      var t = document.createElement("textarea");
      t.value = text; document.body.appendChild(t); t.select();
      try { document.execCommand("copy"); done(); } finally { document.body.removeChild(t); }
    }
  });

  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var data = JSON.parse(canvas.parentNode.querySelector("script.chart-data").textContent);
    new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          { type: "bar", label: "Queries", data: data.queries, yAxisID: "q", backgroundColor: "rgba(79,70,229,.55)",
            borderRadius: 3 },
          { type: "line", label: "Fees settled (ETH)", data: data.amounts_eth, yAxisID: "eth", borderColor: "#0f8a5f",
            backgroundColor: "#0f8a5f", tension: 0.25, pointRadius: 3 }
        ]
      },
      options: {
        maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
        scales: {
          q: { position: "left", beginAtZero: true, title: { display: true, text: "queries" } },
          eth: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                 title: { display: true, text: "ETH" } },
          x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 10 } }
        },
        plugins: { legend: { position: "top", align: "end" } }
      }
    });
  });
  // The chart shows the data; its table folds away unless a link pointed at it (sorting, paging).
  document.querySelectorAll("details.chart-table").forEach(function (d) {
    if (!d.id || location.hash !== "#" + d.id) d.removeAttribute("open");
  });
})();
