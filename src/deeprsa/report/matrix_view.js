// deeprsa: interactive views of the large matrices (model and multi-model RDMs) of a report.
// Every <div class="matrix-view"> holds its data as JSON (models, layers, values, colour
// scale); this draws it on a canvas: hover names the row's and the column's model and layer
// and gives the value; the mouse wheel or a dragged rectangle zooms in, a double click (or
// "Reset") shows the whole matrix again. No library and no network: it is part of the page.
(function () {
  "use strict";
  var MARGIN = {left: 250, top: 34, right: 96, bottom: 118};
  var MIN_LABEL_PX = 11;

  function blocksOf(models) {
    var blocks = [], start = 0;
    for (var i = 1; i <= models.length; i++) {
      if (i === models.length || models[i] !== models[start]) {
        blocks.push({start: start, stop: i, name: models[start]});
        start = i;
      }
    }
    return blocks;
  }

  function hexToRgb(hex) {
    var v = parseInt(hex.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }

  function MatrixView(root, data) {
    this.root = root;
    this.data = data;
    this.n = data.layers.length;
    this.models = data.models || [];
    this.blocks = this.models.length && this.models[0] !== null ? blocksOf(this.models) : [];
    this.view = {c0: 0, r0: 0, size: this.n};
    this.build();
    this.resize();
  }

  // The value of cell (r, c): a symmetric matrix stores its upper triangle row by row.
  MatrixView.prototype.value = function (r, c) {
    var n = this.n;
    if (!this.data.symmetric) { return this.data.values[r * n + c]; }
    var i = Math.min(r, c), j = Math.max(r, c);
    return this.data.values[i * n - i * (i - 1) / 2 + (j - i)];
  };

  MatrixView.prototype.label = function (i) {
    var model = this.models[i];
    return (model !== null && model !== undefined ? model + " \u00b7 " : "") + this.data.layers[i];
  };

  MatrixView.prototype.build = function () {
    var self = this, doc = document, data = this.data, n = this.n;
    var bar = doc.createElement("div");
    bar.className = "matrix-toolbar";
    [["Zoom in", function () { self.zoomBy(0.5); }],
     ["Zoom out", function () { self.zoomBy(2); }],
     ["Reset", function () { self.reset(); }]].forEach(function (item) {
      var button = doc.createElement("button");
      button.type = "button";
      button.textContent = item[0];
      button.addEventListener("click", item[1]);
      bar.appendChild(button);
    });
    var help = doc.createElement("span");
    help.className = "meta";
    help.textContent = " Hover: model, layer and value. Wheel or drag a rectangle: zoom. " +
                       "Double-click: whole matrix. " + n + " x " + n + ".";
    bar.appendChild(help);
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "matrix-canvas";
    this.tip = doc.createElement("div");
    this.tip.className = "matrix-tip";
    this.tip.hidden = true;
    this.root.appendChild(bar);
    this.root.appendChild(this.canvas);
    this.root.appendChild(this.tip);
    // the matrix at one pixel per cell; drawn scaled, without smoothing
    this.cells = doc.createElement("canvas");
    this.cells.width = n;
    this.cells.height = n;
    var cctx = this.cells.getContext("2d"), image = cctx.createImageData(n, n);
    var ramp = data.colormap.map(hexToRgb), span = (data.vmax - data.vmin) || 1;
    for (var k = 0; k < n * n; k++) {
      var v = this.value(Math.floor(k / n), k % n), rgb = [217, 217, 217];
      if (v !== null) {
        var t = Math.min(1, Math.max(0, (v - data.vmin) / span));
        rgb = ramp[Math.min(ramp.length - 1, Math.floor(t * ramp.length))];
      }
      image.data[4 * k] = rgb[0];
      image.data[4 * k + 1] = rgb[1];
      image.data[4 * k + 2] = rgb[2];
      image.data[4 * k + 3] = 255;
    }
    cctx.putImageData(image, 0, 0);
    var c = this.canvas;
    c.addEventListener("mousemove", function (e) { self.onMove(e); });
    c.addEventListener("mouseleave", function () { self.tip.hidden = true; self.drag = null;
                                                   self.hover = null; self.draw(); });
    c.addEventListener("mousedown", function (e) {
      var p = self.position(e);
      if (self.inside(p)) { self.drag = {x: p.x, y: p.y, x1: p.x, y1: p.y}; }
    });
    c.addEventListener("mouseup", function (e) { self.onUp(e); });
    c.addEventListener("dblclick", function () { self.reset(); });
    c.addEventListener("wheel", function (e) {
      var p = self.position(e);
      if (!self.inside(p)) { return; }
      e.preventDefault();
      self.zoomBy(e.deltaY > 0 ? 1.25 : 0.8, self.cellAt(p));
    }, {passive: false});
    window.addEventListener("resize", function () { self.resize(); });
  };

  MatrixView.prototype.resize = function () {
    var width = Math.max(520, Math.min(this.root.clientWidth || 900, 1000));
    var side = Math.max(240, Math.min(width - MARGIN.left - MARGIN.right, 720));
    this.side = side;
    this.width = MARGIN.left + side + MARGIN.right;
    this.height = MARGIN.top + side + MARGIN.bottom;
    var ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.width * ratio);
    this.canvas.height = Math.round(this.height * ratio);
    this.canvas.style.width = this.width + "px";
    this.canvas.style.height = this.height + "px";
    this.ratio = ratio;
    this.canvas.setAttribute("data-area", [MARGIN.left, MARGIN.top, side].join(","));
    this.draw();
  };

  MatrixView.prototype.position = function (e) {
    var box = this.canvas.getBoundingClientRect();
    return {x: e.clientX - box.left, y: e.clientY - box.top};
  };

  MatrixView.prototype.inside = function (p) {
    return p.x >= MARGIN.left && p.x < MARGIN.left + this.side &&
           p.y >= MARGIN.top && p.y < MARGIN.top + this.side;
  };

  MatrixView.prototype.cellAt = function (p) {
    var v = this.view, scale = v.size / this.side;
    return {c: v.c0 + (p.x - MARGIN.left) * scale, r: v.r0 + (p.y - MARGIN.top) * scale};
  };

  MatrixView.prototype.setView = function (c0, r0, size) {
    var n = this.n;
    size = Math.max(Math.min(4, n), Math.min(n, size));
    this.view = {c0: Math.max(0, Math.min(n - size, c0)),
                 r0: Math.max(0, Math.min(n - size, r0)), size: size};
    this.draw();
  };

  MatrixView.prototype.zoomBy = function (factor, centre) {
    var v = this.view;
    centre = centre || {c: v.c0 + v.size / 2, r: v.r0 + v.size / 2};
    var size = v.size * factor;
    this.setView(centre.c - (centre.c - v.c0) * size / v.size,
                 centre.r - (centre.r - v.r0) * size / v.size, size);
  };

  MatrixView.prototype.reset = function () { this.setView(0, 0, this.n); };

  MatrixView.prototype.onMove = function (e) {
    var p = this.position(e);
    if (this.drag) {
      this.drag.x1 = p.x;
      this.drag.y1 = p.y;
    }
    if (!this.inside(p)) {
      this.tip.hidden = true;
      this.hover = null;
      this.draw();
      return;
    }
    var cell = this.cellAt(p), n = this.n;
    var r = Math.min(n - 1, Math.floor(cell.r)), c = Math.min(n - 1, Math.floor(cell.c));
    var value = this.value(r, c);
    this.hover = {r: r, c: c};
    this.root.setAttribute("data-hover", r + "," + c);
    this.tip.textContent = "row: " + this.label(r) + "\ncolumn: " + this.label(c) + "\n" +
      this.data.label + ": " + (value === null ? "undefined" : value.toFixed(4));
    this.tip.hidden = false;
    var box = this.canvas.getBoundingClientRect(), host = this.root.getBoundingClientRect();
    var left = box.left - host.left + p.x + 14, top = box.top - host.top + p.y + 14;
    if (p.x > MARGIN.left + this.side * 0.6) { left -= 300; }
    this.tip.style.left = left + "px";
    this.tip.style.top = top + "px";
    this.draw();
  };

  MatrixView.prototype.onUp = function (e) {
    var d = this.drag;
    this.drag = null;
    if (!d) { return; }
    var p = this.position(e);
    if (Math.abs(p.x - d.x) < 6 && Math.abs(p.y - d.y) < 6) { this.draw(); return; }
    var a = this.cellAt({x: Math.min(d.x, p.x), y: Math.min(d.y, p.y)});
    var b = this.cellAt({x: Math.max(d.x, p.x), y: Math.max(d.y, p.y)});
    this.setView(a.c, a.r, Math.max(b.c - a.c, b.r - a.r));
  };

  MatrixView.prototype.tickStep = function (pitch) {
    return Math.max(1, Math.ceil(MIN_LABEL_PX / pitch));
  };

  MatrixView.prototype.draw = function () {
    var ctx = this.canvas.getContext("2d"), v = this.view, S = this.side;
    var L = MARGIN.left, T = MARGIN.top, n = this.n, data = this.data, self = this;
    var pitch = S / v.size;
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.width, this.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.cells, v.c0, v.r0, v.size, v.size, L, T, S, S);
    function x(c) { return L + (c - v.c0) * pitch; }
    function y(r) { return T + (r - v.r0) * pitch; }
    function visible(a, b) { return b > v.r0 - 1e-9 && a < v.r0 + v.size + 1e-9; }
    function visibleC(a, b) { return b > v.c0 - 1e-9 && a < v.c0 + v.size + 1e-9; }
    ctx.save();
    ctx.beginPath();
    ctx.rect(L, T, S, S);
    ctx.clip();
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    this.blocks.slice(1).forEach(function (b) {
      ctx.beginPath();
      ctx.moveTo(x(b.start), T);
      ctx.lineTo(x(b.start), T + S);
      ctx.moveTo(L, y(b.start));
      ctx.lineTo(L + S, y(b.start));
      ctx.stroke();
    });
    if (this.hover) {
      ctx.strokeStyle = "#d00";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x(this.hover.c), y(this.hover.r), pitch, pitch);
    }
    if (this.drag) {
      ctx.strokeStyle = "#000";
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(this.drag.x, this.drag.y, this.drag.x1 - this.drag.x,
                     this.drag.y1 - this.drag.y);
      ctx.setLineDash([]);
    }
    ctx.restore();
    ctx.strokeStyle = "#444";
    ctx.lineWidth = 1;
    ctx.strokeRect(L - 0.5, T - 0.5, S + 1, S + 1);
    // model bands and names (left and top), then the layer names; the left band sits
    // just beyond the widest layer name in view
    var colours = data.colours || {};
    var step = this.tickStep(pitch), size = Math.max(8, Math.min(11, pitch * step - 2));
    var rows = this.named(v.r0, step), columns = this.named(v.c0, step);
    ctx.font = size + "px sans-serif";
    var widest = 0;
    rows.forEach(function (i) {
      widest = Math.max(widest, Math.min(112, ctx.measureText(data.layers[i]).width));
    });
    var band = L - 5 - widest - 12;
    ctx.textBaseline = "middle";
    this.blocks.forEach(function (b, k) {
      var fill = colours[b.name] || (k % 2 ? "#999" : "#555");
      if (visible(b.start, b.stop)) {
        var y0 = Math.max(T, y(b.start)), y1 = Math.min(T + S, y(b.stop));
        ctx.fillStyle = fill;
        ctx.fillRect(band, y0, 6, y1 - y0);
        if (y1 - y0 >= 12) {
          ctx.fillStyle = "#222";
          ctx.font = "bold 11px sans-serif";
          ctx.textAlign = "right";
          ctx.fillText(self.fit(ctx, b.name, band - 8), band - 4, (y0 + y1) / 2);
        }
      }
      if (visibleC(b.start, b.stop)) {
        var x0 = Math.max(L, x(b.start)), x1 = Math.min(L + S, x(b.stop));
        ctx.fillStyle = fill;
        ctx.fillRect(x0, T - 8, x1 - x0, 5);
        ctx.font = "bold 11px sans-serif";
        if (ctx.measureText(b.name).width <= x1 - x0 - 4) {
          ctx.fillStyle = "#222";
          ctx.textAlign = "center";
          ctx.fillText(b.name, (x0 + x1) / 2, T - 18);
        }
      }
    });
    ctx.font = size + "px sans-serif";
    ctx.fillStyle = "#333";
    // the layers named, rows on the left and columns below: every step-th of each model
    rows.forEach(function (i) {
      var cy = y(i + 0.5);
      if (cy < T || cy > T + S) { return; }
      ctx.textAlign = "right";
      ctx.fillText(self.fit(ctx, data.layers[i], 112), L - 5, cy);
    });
    columns.forEach(function (j) {
      var cx = x(j + 0.5);
      if (cx < L || cx > L + S) { return; }
      ctx.save();
      ctx.translate(cx, T + S + 5);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "right";
      ctx.fillText(self.fit(ctx, data.layers[j], MARGIN.bottom - 10), 0, 0);
      ctx.restore();
    });
    // colour bar
    var bx = L + S + 18, ramp = data.colormap;
    for (var k = 0; k < ramp.length; k++) {
      ctx.fillStyle = ramp[ramp.length - 1 - k];
      ctx.fillRect(bx, T + k * S / ramp.length, 14, S / ramp.length + 1);
    }
    ctx.fillStyle = "#333";
    ctx.font = "10px sans-serif";
    ctx.textAlign = "left";
    [[data.vmax, T], [(data.vmin + data.vmax) / 2, T + S / 2], [data.vmin, T + S]].forEach(
      function (tick) { ctx.fillText(tick[0].toFixed(2), bx + 18, tick[1]); });
    ctx.save();
    ctx.translate(bx + 62, T + S / 2);
    ctx.rotate(Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(this.fit(ctx, data.label, S), 0, 0);
    ctx.restore();
    this.root.setAttribute("data-zoom", (n / v.size).toFixed(2));
  };

  // Indices in view from first on whose layer is named: each model's first, every step-th.
  MatrixView.prototype.named = function (first, step) {
    var out = [], n = this.n, last = Math.min(n, Math.ceil(first + this.view.size));
    var start = 0, stop = n;
    for (var i = Math.floor(first); i < last; i++) {
      this.blocks.forEach(function (b) {
        if (b.start <= i && i < b.stop) { start = b.start; stop = b.stop; }
      });
      // as the static figure: no name closer than step rows to the next model's first
      if ((i - start) % step === 0 && (i === start || i + step <= stop)) { out.push(i); }
    }
    return out;
  };

  MatrixView.prototype.fit = function (ctx, text, width) {
    if (ctx.measureText(text).width <= width) { return text; }
    while (text.length > 2 && ctx.measureText("\u2026" + text).width > width) {
      text = text.slice(1);
    }
    return "\u2026" + text;
  };

  window.addEventListener("load", function () {
    var roots = document.querySelectorAll(".matrix-view"), ready = 0;
    for (var i = 0; i < roots.length; i++) {
      var source = roots[i].querySelector("script.matrix-data");
      roots[i].matrixView = new MatrixView(roots[i], JSON.parse(source.textContent));
      ready++;
    }
    document.body.setAttribute("data-matrix-views", String(ready));
  });
})();
