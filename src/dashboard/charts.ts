/**
 * Request charts drawn on the server as SVG geometry (no script, no network, nothing inline for
 * the CSP to refuse): bars stacked by outcome (succeeded, failed, refused by reason). This module
 * computes the shapes; views/partials/chart.ejs draws them.
 *
 * Colour is never the only cue: every series also has its own fill pattern (the legend's swatches
 * use the same patterns), the legend names each series with its count, every bar has a text
 * tooltip, and the numbers are in a table under the chart.
 */
import type { OutcomeCounts } from '../usage/outcome-report';
import { REFUSAL_OUTCOMES, type RequestOutcome } from '@keyward/guard';
import { formatCount } from './format';
import { OUTCOME_LABELS } from './outcomes';

/** One bucket of a chart: its start and its requests by outcome. */
export interface ChartPoint {
  start: Date;
  outcomes: OutcomeCounts;
}

/** The look of a series: its colour (CSS class tone-<tone>) and pattern. Stable per position. */
export type ChartTone = 'ok' | 'failed' | 'closed' | 'r1' | 'r2' | 'r3' | 'r4';

/** One stacked series: which outcomes it sums, its legend text and its look. */
export interface ChartSeries {
  tone: ChartTone;
  label: string;
  outcomes: RequestOutcome[];
}

/** "Succeeded" → "succeeded" inside a sentence; "IP not allowed" keeps its capitals. */
const lower = (label: string) => (/^[A-Z][a-z]/.test(label) ? label.charAt(0).toLowerCase() + label.slice(1) : label);

/** How many refusal series a chart stacks at most; further reasons share the last one. */
export const MAX_REFUSAL_SERIES = 4;
const REFUSAL_TONES: ChartTone[] = ['r1', 'r2', 'r3', 'r4'];

/** The white marks each tone's 8×8 pattern draws over its colour (SVG path data; none: solid). */
export const TONE_MARKS: Record<ChartTone, string | null> = {
  ok: null,
  failed: 'M-2,2L2,-2M0,8L8,0M6,10L10,6',
  closed: 'M3,3h2v2h-2z',
  r1: 'M0,4h8',
  r2: 'M0,4h8M4,0v8',
  r3: 'M4,0v8',
  r4: 'M-2,6L2,10M0,0L8,8M6,-2L10,2',
};

/**
 * The series of a page's charts, chosen from the period's totals (so the 24-hour and 30-day charts
 * of a page use the same colours): succeeded and failed always, "client left" when it happened,
 * then the refusal reasons that happened, most frequent first; past MAX_REFUSAL_SERIES reasons
 * the last series gathers the rest.
 */
export function chartSeries(totals: OutcomeCounts): ChartSeries[] {
  const series: ChartSeries[] = [
    { tone: 'ok', label: OUTCOME_LABELS.ok, outcomes: ['ok'] },
    { tone: 'failed', label: OUTCOME_LABELS.failed, outcomes: ['failed'] },
  ];
  if (totals.client_closed > 0) series.push({ tone: 'closed', label: OUTCOME_LABELS.client_closed, outcomes: ['client_closed'] });
  const reasons = REFUSAL_OUTCOMES.filter((code) => totals[code] > 0).sort((a, b) => totals[b] - totals[a]);
  const own = reasons.length > MAX_REFUSAL_SERIES ? reasons.slice(0, MAX_REFUSAL_SERIES - 1) : reasons;
  own.forEach((code, i) => series.push({ tone: REFUSAL_TONES[i], label: `Refused: ${lower(OUTCOME_LABELS[code])}`, outcomes: [code] }));
  const rest = reasons.slice(own.length);
  if (rest.length > 0) {
    series.push({ tone: REFUSAL_TONES[MAX_REFUSAL_SERIES - 1], label: `Refused: ${rest.length} other reasons`, outcomes: rest });
  }
  return series;
}

/** One series' part of a bar. */
export interface ChartSegment {
  tone: ChartTone;
  y: number;
  height: number;
}

/** One bucket's bar: its stacked segments (bottom first) and its text. */
export interface ChartBar {
  x: number;
  width: number;
  segments: ChartSegment[];
  /** Tooltip text, e.g. "14:00 UTC: 7 requests (5 succeeded, 2 refused: rate limited)". */
  label: string;
  bucket: string;
  /** Requests per series, in series order (the data table's cells). */
  values: number[];
  total: number;
}

/** Everything views/partials/chart.ejs needs to draw a chart. */
export interface BarChart {
  id: string;
  title: string;
  width: number;
  height: number;
  plot: { left: number; top: number; width: number; height: number; bottom: number };
  /** Bottom to top, with each series' total over the chart and its pattern's marks. */
  series: (ChartSeries & { total: number; mark: string | null })[];
  bars: ChartBar[];
  yTicks: { y: number; label: string }[];
  xLabels: { x: number; label: string }[];
  total: number;
  /** "32 requests: 20 succeeded, 12 refused" (the caption). */
  brief: string;
  /** Every series with requests: "32 requests: 20 succeeded, 5 refused: rate limited, …" (the text alternative). */
  summary: string;
  empty: boolean;
  /** What the chart says when it has no requests. */
  emptyText: string;
}

/** How a chart is titled and labelled. */
export interface BarChartOptions {
  id: string;
  title: string;
  /** The bucket's name in tooltips and the data table ("Nov 22 14:00 UTC", "Nov 22"). */
  bucketLabel: (start: Date) => string;
  /** Which buckets get an axis label: every n-th, counted from the last. */
  labelEvery: number;
  axisLabel: (start: Date) => string;
  /** Whose requests the chart counts, for its empty state: "this key", "your keys". */
  subject?: string;
}

const WIDTH = 600;
const HEIGHT = 250;
const PLOT = { left: 56, top: 14, right: 36, bottom: 32 };

/** 0 → 1; otherwise the next of 1, 2, 5 × 10^n at or above `value`. */
export function niceCeiling(value: number): number {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** "20 succeeded, 3 refused: model not allowed" for the series with requests. */
function seriesText(series: ChartSeries[], values: number[]): string {
  return series
    .map((s, i) => (values[i] > 0 ? `${formatCount(values[i])} ${lower(s.label)}` : ''))
    .filter(Boolean)
    .join(', ');
}

/** Bars stacked by outcome series (first series at the bottom) over buckets, oldest first. */
export function barChart(points: ChartPoint[], series: ChartSeries[], options: BarChartOptions): BarChart {
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const bottom = PLOT.top + plotHeight;
  const valuesOf = (point: ChartPoint) => series.map((s) => s.outcomes.reduce((sum, code) => sum + point.outcomes[code], 0));
  const values = points.map(valuesOf);
  const totals = values.map((v) => v.reduce((a, b) => a + b, 0));
  const max = niceCeiling(Math.max(0, ...totals));
  const slot = plotWidth / Math.max(1, points.length);
  const barWidth = Math.max(1, slot * 0.7);
  const scale = (value: number) => (value / max) * plotHeight;

  const bars = points.map((point, i) => {
    const x = round(PLOT.left + i * slot + (slot - barWidth) / 2);
    const bucket = options.bucketLabel(point.start);
    const segments: ChartSegment[] = [];
    let below = 0;
    values[i].forEach((value, s) => {
      if (value === 0) return;
      const top = round(bottom - scale(below + value));
      segments.push({ tone: series[s].tone, y: top, height: round(round(bottom - scale(below)) - top) });
      below += value;
    });
    const detail = seriesText(series, values[i]);
    return {
      x,
      width: round(barWidth),
      segments,
      label: `${bucket}: ${formatCount(totals[i])} ${totals[i] === 1 ? 'request' : 'requests'}${detail ? ` (${detail})` : ''}`,
      bucket,
      values: values[i],
      total: totals[i],
    };
  });

  // A middle line only where it falls on a whole number (no "2.5 requests").
  const yTicks = (Number.isInteger(max / 2) ? [0, max / 2, max] : [0, max]).map((value) => ({ y: round(bottom - scale(value)), label: formatCount(value) }));
  const last = points.length - 1;
  const xLabels = points
    .map((point, i) => ({ i, point }))
    .filter(({ i }) => (last - i) % options.labelEvery === 0)
    .map(({ i, point }) => ({ x: round(PLOT.left + i * slot + slot / 2), label: options.axisLabel(point.start) }));

  const seriesTotals = series.map((s, i) => ({ ...s, total: values.reduce((sum, v) => sum + v[i], 0), mark: TONE_MARKS[s.tone] }));
  const total = totals.reduce((a, b) => a + b, 0);
  const detail = seriesText(series, seriesTotals.map((s) => s.total));
  const sumOf = (tones: ChartTone[]) => seriesTotals.filter((s) => tones.includes(s.tone)).reduce((sum, s) => sum + s.total, 0);
  const brief = [
    [sumOf(['ok']), 'succeeded'],
    [sumOf(['failed']), 'failed'],
    [sumOf(['closed']), 'client left'],
    [sumOf(REFUSAL_TONES), 'refused'],
  ]
    .filter(([count]) => (count as number) > 0)
    .map(([count, word]) => `${formatCount(count as number)} ${word}`)
    .join(', ');
  return {
    id: options.id,
    title: options.title,
    width: WIDTH,
    height: HEIGHT,
    plot: { left: PLOT.left, top: PLOT.top, width: plotWidth, height: plotHeight, bottom },
    series: seriesTotals,
    bars,
    yTicks,
    xLabels,
    total,
    brief: `${formatCount(total)} ${total === 1 ? 'request' : 'requests'}${brief ? `: ${brief}` : ''}`,
    summary: `${formatCount(total)} ${total === 1 ? 'request' : 'requests'}${detail ? `: ${detail}` : ''}`,
    empty: total === 0,
    emptyText: `No requests in this period yet. Requests made with ${options.subject ?? 'this key'} appear here within a second or two.`,
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Hourly chart of the last 24 hours (UTC hours). */
export function hourlyChart(id: string, points: ChartPoint[], series: ChartSeries[], subject?: string): BarChart {
  const hour = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:00`;
  return barChart(points, series, {
    id,
    title: 'Requests per hour, last 24 hours (UTC)',
    bucketLabel: (d) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${hour(d)} UTC`,
    axisLabel: hour,
    labelEvery: 6,
    subject,
  });
}

/** Daily chart of the last 30 days (UTC days). */
export function dailyChart(id: string, points: ChartPoint[], series: ChartSeries[], subject?: string): BarChart {
  const day = (d: Date) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
  return barChart(points, series, {
    id,
    title: 'Requests per day, last 30 days (UTC)',
    bucketLabel: day,
    axisLabel: day,
    labelEvery: 7,
    subject,
  });
}
