/**
 * Usage charts drawn on the server as SVG geometry (no script, no network, nothing inline for the
 * CSP to refuse). This module computes the shapes; views/partials/chart.ejs draws them.
 */
import { formatCount } from './format';

/** One bar: requests that succeeded and failed in a bucket. */
export interface ChartInput {
  start: Date;
  requestsOk: number;
  requestsFailed: number;
}

/** One bucket's bar: geometry of its ok and failed parts, and its text. */
export interface ChartBar {
  x: number;
  width: number;
  ok: { y: number; height: number };
  failed: { y: number; height: number };
  /** Tooltip and table text, e.g. "14:00 UTC: 1,234 ok, 5 failed". */
  label: string;
  bucket: string;
  requestsOk: number;
  requestsFailed: number;
}

/** Everything views/partials/chart.ejs needs to draw a chart. */
export interface BarChart {
  id: string;
  title: string;
  width: number;
  height: number;
  plot: { left: number; top: number; width: number; height: number; bottom: number };
  bars: ChartBar[];
  yTicks: { y: number; label: string }[];
  xLabels: { x: number; label: string }[];
  total: number;
  failed: number;
  empty: boolean;
}

/** How a series is titled and labelled. */
export interface BarChartOptions {
  id: string;
  title: string;
  /** The bucket's name in tooltips and the data table ("14:00 UTC", "Nov 22"). */
  bucketLabel: (start: Date) => string;
  /** Which buckets get an axis label: every n-th, counted from the last. */
  labelEvery: number;
  axisLabel: (start: Date) => string;
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

/** Stacked bars (ok below, failed on top) of a series of buckets, oldest first. */
export function barChart(points: ChartInput[], options: BarChartOptions): BarChart {
  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const bottom = PLOT.top + plotHeight;
  const max = niceCeiling(Math.max(0, ...points.map((p) => p.requestsOk + p.requestsFailed)));
  const slot = plotWidth / Math.max(1, points.length);
  const barWidth = Math.max(1, slot * 0.7);
  const scale = (value: number) => (value / max) * plotHeight;

  const bars = points.map((point, i) => {
    const x = round(PLOT.left + i * slot + (slot - barWidth) / 2);
    const okHeight = round(scale(point.requestsOk));
    const failedHeight = round(scale(point.requestsFailed));
    const bucket = options.bucketLabel(point.start);
    return {
      x,
      width: round(barWidth),
      ok: { y: round(bottom - okHeight), height: okHeight },
      failed: { y: round(bottom - okHeight - failedHeight), height: failedHeight },
      label: `${bucket}: ${formatCount(point.requestsOk)} ok, ${formatCount(point.requestsFailed)} failed`,
      bucket,
      requestsOk: point.requestsOk,
      requestsFailed: point.requestsFailed,
    };
  });

  // A middle line only where it falls on a whole number (no "2.5 requests").
  const yTicks = (Number.isInteger(max / 2) ? [0, max / 2, max] : [0, max]).map((value) => ({ y: round(bottom - scale(value)), label: formatCount(value) }));
  const last = points.length - 1;
  const xLabels = points
    .map((point, i) => ({ i, point }))
    .filter(({ i }) => (last - i) % options.labelEvery === 0)
    .map(({ i, point }) => ({ x: round(PLOT.left + i * slot + slot / 2), label: options.axisLabel(point.start) }));


  const total = points.reduce((sum, p) => sum + p.requestsOk + p.requestsFailed, 0);
  return {
    id: options.id,
    title: options.title,
    width: WIDTH,
    height: HEIGHT,
    plot: { left: PLOT.left, top: PLOT.top, width: plotWidth, height: plotHeight, bottom },
    bars,
    yTicks,
    xLabels,
    total,
    failed: points.reduce((sum, p) => sum + p.requestsFailed, 0),
    empty: total === 0,
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Hourly chart of the last 24 hours (UTC hours). */
export function hourlyChart(id: string, points: ChartInput[]): BarChart {
  const hour = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:00`;
  return barChart(points, {
    id,
    title: 'Requests per hour, last 24 hours (UTC)',
    bucketLabel: (d) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()} ${hour(d)} UTC`,
    axisLabel: hour,
    labelEvery: 6,
  });
}

/** Daily chart of the last 30 days (UTC days). */
export function dailyChart(id: string, points: ChartInput[]): BarChart {
  const day = (d: Date) => `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
  return barChart(points, {
    id,
    title: 'Requests per day, last 30 days (UTC)',
    bucketLabel: day,
    axisLabel: day,
    labelEvery: 7,
  });
}
