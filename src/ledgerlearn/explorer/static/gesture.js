// Camera gestures without a redraw per frame: while the user zooms, pans or the page flies to
// an update, the picture sigma last drew is moved and scaled with one CSS transform (the
// compositor's work, a few milliseconds even in software), and the graph is drawn again once,
// when the camera settles (SETTLE_MS after the last input), at exactly the state the gesture
// reached, so nothing jumps. Redrawing 10,000 nodes in WebGL costs hundreds of milliseconds
// per frame where WebGL runs in software (no GPU); moving a picture costs next to nothing.
//
// Sigma keeps handling clicks and hovering: its mouse layer stays untransformed on top, and
// its picking buffer is only read when the picture is the camera's (a click during a gesture
// first settles it, synchronously). Wheel and drag never reach sigma's own camera handling.
"use strict";
(function () {
  const SETTLE_MS = 150; // idle time after the last input before the one redraw
  const WHEEL_STEP = 1.7; // zoom factor of one wheel notch (sigma's zoomingRatio)
  const EASE_MS = 180; // a wheel zoom eases towards its goal over this long
  const DRAG_TOLERANCE = 3; // pixels a press may move and still be a click

  const easeOut = (t) => 1 - (1 - t) * (1 - t);

  class GestureCamera {
    /** renderer: a Sigma instance; container: the element it draws in. */
    constructor(renderer, container, { onSettle = null } = {}) {
      this.renderer = renderer;
      this.camera = renderer.getCamera();
      this.container = container;
      this.onSettle = onSettle;
      this.view = null; // camera state shown by the transform (null: the picture is the camera's)
      this.anim = null; // {from, to, start, ms, done}
      this.frame = null;
      this.settleTimer = null;
      this.drag = null; // {x, y, state, moved}
      this.swallowClick = false;
      this.pendingFinish = null; // the end of a settle whose draw is still to come
      this.stats = { settles: [], spans: [], gestureFrames: 0 };
      this.stage = this.wrapLayers();
      this.bind();
    }

    // Every drawing layer of sigma in one wrapper (the transform's target); the mouse layer,
    // where sigma listens, stays on top, unmoved.
    wrapLayers() {
      const stage = document.createElement("div");
      stage.className = "sigma-stage";
      Object.assign(stage.style, { position: "absolute", left: "0", top: "0", width: "100%",
        height: "100%", transformOrigin: "0 0", overflow: "visible", willChange: "transform" });
      const mouse = this.renderer.getMouseCaptor().container;
      this.container.insertBefore(stage, mouse);
      for (const layer of [...this.container.children]) {
        if (layer !== stage && layer !== mouse) stage.appendChild(layer);
      }
      this.container.style.overflow = "hidden";
      return stage;
    }

    bind() {
      const c = this.container;
      c.addEventListener("wheel", (e) => this.onWheel(e), { capture: true, passive: false });
      c.addEventListener("mousedown", (e) => this.onDown(e), { capture: true });
      window.addEventListener("mousemove", (e) => this.onMove(e), { capture: true });
      window.addEventListener("mouseup", (e) => this.onUp(e), { capture: true });
      c.addEventListener("click", (e) => {
        if (this.swallowClick) { this.swallowClick = false; e.stopPropagation(); }
      }, { capture: true });
      // sigma's double-click zoom would redraw every frame: the same zoom, as a gesture
      const dbl = (e) => {
        e.preventSigmaDefault();
        this.zoomAt({ x: e.event.x, y: e.event.y }, 1 / 2.2, 200);
      };
      this.renderer.on("doubleClickNode", dbl);
      this.renderer.on("doubleClickStage", dbl);
    }

    // -- the transform -------------------------------------------------------------------
    state() { return this.view || this.camera.getState(); }
    busy() { return this.view !== null; }

    bounded(ratio) {
      const { minCameraRatio: lo, maxCameraRatio: hi } = this.renderer.getSettings();
      if (typeof lo === "number") ratio = Math.max(ratio, lo);
      if (typeof hi === "number") ratio = Math.min(ratio, hi);
      return ratio;
    }

    show(view) {
      this.view = view;
      const r = this.renderer, drawn = this.camera.getState();
      const a0 = r.framedGraphToViewport({ x: 0, y: 0 }, { cameraState: drawn });
      const b0 = r.framedGraphToViewport({ x: 1, y: 1 }, { cameraState: drawn });
      const a1 = r.framedGraphToViewport({ x: 0, y: 0 }, { cameraState: view });
      const b1 = r.framedGraphToViewport({ x: 1, y: 1 }, { cameraState: view });
      const k = (b1.x - a1.x) / (b0.x - a0.x);
      const tx = a1.x - k * a0.x, ty = a1.y - k * a0.y;
      this.stage.style.transform = `matrix(${k},0,0,${k},${tx},${ty})`;
      this.stats.last = { k, tx, ty, drawn, view }; // what is shown: the tests check no jump
      this.stats.gestureFrames += 1;
      this.scheduleSettle();
    }

    scheduleSettle() {
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => {
        if (this.anim || this.drag?.moved) { this.scheduleSettle(); return; }
        this.settle();
      }, SETTLE_MS);
    }

    // The one redraw: the camera takes the gesture's state, sigma draws it in its next frame,
    // and the transform goes in that same frame (a rAF queued after sigma's).
    settle({ sync = false } = {}) {
      clearTimeout(this.settleTimer);
      this.settleTimer = null;
      if (this.view === null) return;
      const view = this.view;
      this.stopAnimation();
      const started = performance.now();
      this.view = null;
      const finish = () => {
        // a gesture begun since keeps its transform: it is relative to the camera just drawn
        if (this.view === null) this.stage.style.transform = "";
        const done = () => {
          const now = performance.now();
          this.stats.settles.push(now - started);
          this.stats.spans.push([started, now]);
          if (this.onSettle) this.onSettle();
        };
        if (sync) done(); else requestAnimationFrame(done);
      };
      if (this.camera.hasState(view)) { finish(); return; }
      this.camera.setState(view);
      if (sync) {
        this.renderer.render(); // draws now (nothing to reprocess): the picking is current
        finish();
      } else {
        this.pendingFinish = finish; // sigma draws in the next frame; then the transform goes
        requestAnimationFrame(() => {
          if (this.pendingFinish === finish) { this.pendingFinish = null; finish(); }
        });
      }
    }

    // The camera has its new state but sigma has not drawn it yet: draw it now.
    drawPending() {
      const finish = this.pendingFinish;
      if (!finish) return;
      this.pendingFinish = null;
      this.renderer.render();
      finish();
    }

    // -- animations (wheel easing, zoom buttons, fly to an update) -----------------------
    animateTo(target, ms, done = null) {
      const from = this.state();
      const to = { ...from, ...target, ratio: this.bounded(target.ratio ?? from.ratio) };
      if (this.anim && this.anim.done) this.anim.done();
      this.anim = { from, to, start: performance.now(), ms: Math.max(1, ms), done };
      if (this.frame === null) this.frame = requestAnimationFrame((t) => this.step(t));
    }

    step() {
      this.frame = null;
      const a = this.anim;
      if (!a) return;
      const t = Math.min(1, (performance.now() - a.start) / a.ms);
      const e = easeOut(t), f = a.from, g = a.to;
      this.show({ x: f.x + (g.x - f.x) * e, y: f.y + (g.y - f.y) * e, angle: f.angle,
        ratio: f.ratio * Math.pow(g.ratio / f.ratio, e) });
      if (t < 1) { this.frame = requestAnimationFrame(() => this.step()); return; }
      this.anim = null;
      if (a.done) a.done();
    }

    stopAnimation() {
      if (this.frame !== null) cancelAnimationFrame(this.frame);
      this.frame = null;
      const a = this.anim;
      this.anim = null;
      if (a && a.done) a.done();
    }

    /** Fly to a camera state (x, y, ratio), then settle; resolves when it is drawn. */
    flyTo(target, ms = 300) {
      return new Promise((resolve) => {
        this.animateTo(target, ms, () => this.whenSettled().then(resolve));
      });
    }

    whenSettled() {
      return new Promise((resolve) => {
        const check = () => (this.view === null && !this.anim ? resolve() : setTimeout(check, 30));
        check();
      });
    }

    /** Zoom by `factor` (< 1: in) keeping the graph point under viewport point `at` still. */
    zoomAt(at, factor, ms = EASE_MS) {
      const goal = this.anim ? this.anim.to : this.state();
      const ratio = this.bounded(goal.ratio * factor);
      const f = this.renderer.viewportToFramedGraph(at, { cameraState: goal });
      const q = ratio / goal.ratio;
      this.animateTo({ x: f.x + (goal.x - f.x) * q, y: f.y + (goal.y - f.y) * q, ratio }, ms);
    }

    zoomCentre(factor, ms = 250) {
      const { width, height } = this.renderer.getDimensions();
      this.zoomAt({ x: width / 2, y: height / 2 }, factor, ms);
    }

    // -- input ---------------------------------------------------------------------------
    local(e) {
      const box = this.container.getBoundingClientRect();
      return { x: e.clientX - box.left, y: e.clientY - box.top };
    }

    onWheel(e) {
      e.preventDefault();
      e.stopPropagation(); // sigma's wheel zoom would redraw every frame
      const unit = e.deltaMode === 1 ? 33 : (e.deltaMode === 2 ? 400 : 1);
      const notches = Math.max(-4, Math.min(4, (-e.deltaY * unit) / 100));
      if (!notches) return;
      this.zoomAt(this.local(e), Math.pow(WHEEL_STEP, -notches));
    }

    onDown(e) {
      if (e.button !== 0) return;
      // a click must pick what it sees: sigma's picking buffer is that of its last draw
      if (this.busy()) this.settle({ sync: true });
      else this.drawPending();
      this.swallowClick = false;
      this.drag = { ...this.local(e), state: this.camera.getState(), moved: false };
    }

    onMove(e) {
      const d = this.drag;
      if (d) {
        const p = this.local(e);
        if (!d.moved && Math.hypot(p.x - d.x, p.y - d.y) < DRAG_TOLERANCE) return;
        d.moved = true;
        e.stopPropagation(); // not sigma's: it would move its camera and pick under the mouse
        e.preventDefault();
        this.stopAnimation();
        const r = this.renderer;
        const a = r.viewportToFramedGraph({ x: d.x, y: d.y }, { cameraState: d.state });
        const b = r.viewportToFramedGraph(p, { cameraState: d.state });
        this.show({ ...d.state, x: d.state.x + a.x - b.x, y: d.state.y + a.y - b.y });
        return;
      }
      // hovering while the picture is moved: sigma's picking buffer is not what is shown
      if (this.busy() && this.container.contains(e.target)) e.stopPropagation();
    }

    onUp() {
      const d = this.drag;
      this.drag = null;
      if (d && d.moved) {
        this.swallowClick = true; // the click that ends a drag is no click on the graph
        this.scheduleSettle();
      }
    }
  }

  window.GestureCamera = GestureCamera;
})();
