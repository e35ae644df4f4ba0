// Draws the tags of one plan into an SVG group, imperatively: React renders the plan and
// its devices, this class owns the (up to hundreds of) moving markers. With few markers,
// movement is eased by a CSS transition on each marker's transform (no script work
// between position updates); with many, see RICH_MARKER_LIMIT.
import type { FloorPlan, Id } from '../api/types';
import { accuracyRadii, fractionToView, type ViewSize } from './planGeometry';
import type { MarkerSource } from './positionStore';

const SVG_NS = 'http://www.w3.org/2000/svg';
/**
 * Above this many markers on a plan, markers jump instead of gliding, and only the
 * selected (or hovered) one shows its accuracy circle and name (the list beside the map
 * names them all). Painting hundreds of gliding, overlapping translucent circles is what
 * costs frames (measured with 500 tags moving every second in software-rendered Chromium
 * on 2 cores: 16 fps with both, 60 fps without; script work is ~40 ms a second either way).
 */
export const RICH_MARKER_LIMIT = 50;

function setText(element: Element, text: string) {
  if (element.textContent !== text) element.textContent = text;
}

export interface MarkerLabels {
  name: (tagId: Id) => string;
  title: (tagId: Id, lastSeenAt: string) => string;
}

export class MarkerLayer {
  private readonly elements = new Map<Id, SVGGElement>();
  private selected: Id | null = null;
  /** Tags with an open alert: their markers are highlighted. */
  private alerting = new Set<Id>();

  constructor(
    private readonly markersGroup: SVGGElement,
    private readonly trailLine: SVGPolylineElement,
    private readonly store: MarkerSource,
    private readonly plan: FloorPlan,
    private readonly view: ViewSize,
    private readonly labels: MarkerLabels,
  ) {
    this.update([...store.markers.keys()]);
  }

  /** Brings the markers of these tags up to date (created, moved or removed). */
  update(tagIds: Id[]) {
    for (const tagId of tagIds) {
      const marker = this.store.markers.get(tagId);
      let element = this.elements.get(tagId);
      if (!marker || marker.planId !== this.plan.id) {
        element?.remove();
        this.elements.delete(tagId);
        continue;
      }
      if (!element) {
        element = this.create(tagId);
        this.elements.set(tagId, element);
        this.markersGroup.appendChild(element);
      }
      const at = fractionToView(marker, this.view);
      element.style.transform = `translate(${at.x}px, ${at.y}px)`;
      element.dataset.x = marker.x.toFixed(4);
      element.dataset.y = marker.y.toFixed(4);
      const [accuracy, , label, title] = element.children as unknown as [SVGEllipseElement, SVGCircleElement, SVGTextElement, SVGTitleElement];
      const radii = accuracyRadii(marker.accuracyM, this.plan, this.view);
      accuracy.setAttribute('rx', String(radii?.rx ?? 0));
      accuracy.setAttribute('ry', String(radii?.ry ?? 0));
      // Text changes force a re-layout of the label; most updates only move the marker.
      setText(label, this.labels.name(tagId));
      setText(title, this.labels.title(tagId, marker.lastSeenAt));
      if (tagId === this.selected) this.drawTrail();
    }
    this.markersGroup.classList.toggle('many-markers', this.elements.size > RICH_MARKER_LIMIT);
  }

  /** Redraws every marker's text (names reloaded, language switched). */
  relabel() {
    this.update([...this.elements.keys()]);
  }

  select(tagId: Id | null) {
    this.elements.get(this.selected ?? -1)?.classList.remove('selected');
    this.selected = tagId;
    this.elements.get(tagId ?? -1)?.classList.add('selected');
    this.drawTrail();
  }

  /** Highlights the markers of these tags (and only these). */
  highlight(tagIds: Set<Id>) {
    this.alerting = tagIds;
    for (const [tagId, element] of this.elements) element.classList.toggle('alerting', tagIds.has(tagId));
  }

  dispose() {
    for (const element of this.elements.values()) element.remove();
    this.elements.clear();
    this.trailLine.setAttribute('points', '');
  }

  private drawTrail() {
    const points = this.selected === null ? [] : this.store.trail(this.selected, this.plan.id);
    this.trailLine.setAttribute(
      'points',
      points.map((p) => fractionToView(p, this.view)).map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '),
    );
  }

  private create(tagId: Id): SVGGElement {
    const group = document.createElementNS(SVG_NS, 'g');
    group.setAttribute('class', 'tag-marker');
    group.dataset.tagId = String(tagId);
    if (tagId === this.selected) group.classList.add('selected');
    if (this.alerting.has(tagId)) group.classList.add('alerting');
    const accuracy = document.createElementNS(SVG_NS, 'ellipse');
    accuracy.setAttribute('class', 'accuracy');
    const dot = document.createElementNS(SVG_NS, 'circle');
    dot.setAttribute('r', '9');
    dot.setAttribute('class', 'dot');
    const label = document.createElementNS(SVG_NS, 'text');
    label.setAttribute('y', '-14');
    label.setAttribute('text-anchor', 'middle');
    const title = document.createElementNS(SVG_NS, 'title');
    group.append(accuracy, dot, label, title);
    return group;
  }
}
