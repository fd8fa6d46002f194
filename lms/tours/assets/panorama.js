// The 360° viewer for tour stops, bundled by `make assets` into lms/static/vendor/
// (panorama.js and panorama.css, never committed): Photo Sphere Viewer and its markers
// plugin from the npm registry, exposed to lms/static/js/tour.js as window.KenshuPanorama.
import { Viewer } from "@photo-sphere-viewer/core";
import { MarkersPlugin } from "@photo-sphere-viewer/markers-plugin";
import "@photo-sphere-viewer/core/index.css";
import "@photo-sphere-viewer/markers-plugin/index.css";

window.KenshuPanorama = { Viewer: Viewer, MarkersPlugin: MarkersPlugin };
