/** Server-side SVG chart geometry: bars stacked by outcome. */
import { barChart, chartSeries, dailyChart, hourlyChart, niceCeiling, TONE_MARKS } from '../../src/dashboard/charts';
import { type OutcomeCounts, zeroOutcomes } from '../../src/usage/outcome-report';

const counts = (values: Partial<OutcomeCounts>): OutcomeCounts => ({ ...zeroOutcomes(), ...values });
const point = (i: number, values: Partial<OutcomeCounts>) => ({ start: new Date(Date.UTC(2026, 10, 1 + i)), outcomes: counts(values) });
const options = {
  id: 'c',
  title: 't',
  bucketLabel: (d: Date) => d.toISOString().slice(0, 10),
  axisLabel: (d: Date) => String(d.getUTCDate()),
  labelEvery: 1,
};

test('nice ceilings', () => {
  expect([0, 1, 3, 7, 10, 11, 45, 99, 1234].map(niceCeiling)).toEqual([1, 1, 5, 10, 10, 20, 50, 100, 2000]);
});

test('series: succeeded and failed always, then the refusal reasons that happened, most frequent first', () => {
  expect(chartSeries(zeroOutcomes()).map((s) => s.label)).toEqual(['Succeeded', 'Failed']);
  const series = chartSeries(counts({ ok: 20, rate_limited: 5, model_not_allowed: 3, ip_not_allowed: 2, client_closed: 1 }));
  expect(series.map((s) => [s.tone, s.label, s.outcomes])).toEqual([
    ['ok', 'Succeeded', ['ok']],
    ['failed', 'Failed', ['failed']],
    ['closed', 'Client left', ['client_closed']],
    ['r1', 'Refused: rate limited', ['rate_limited']],
    ['r2', 'Refused: model not allowed', ['model_not_allowed']],
    ['r3', 'Refused: IP not allowed', ['ip_not_allowed']],
  ]);
  // Past four reasons, the fourth series gathers the rest.
  const many = chartSeries(counts({ rate_limited: 9, invalid_api_key: 8, key_expired: 7, quota_exceeded: 6, budget_exceeded: 5 }));
  expect(many.slice(2).map((s) => [s.tone, s.label])).toEqual([
    ['r1', 'Refused: rate limited'],
    ['r2', 'Refused: wrong secret'],
    ['r3', 'Refused: key expired'],
    ['r4', 'Refused: 2 other reasons'],
  ]);
  expect(many[5].outcomes.sort()).toEqual(['budget_exceeded', 'quota_exceeded']);
  // Every series but "succeeded" has a pattern: colour is not the only cue.
  expect(Object.entries(TONE_MARKS).filter(([, mark]) => !mark).map(([tone]) => tone)).toEqual(['ok']);
});

test('bars stack the series bottom up and scale to the tallest bucket', () => {
  const points = [point(0, {}), point(1, { ok: 6, failed: 1, rate_limited: 3 }), point(2, { ok: 2 })];
  const series = chartSeries(counts({ ok: 8, failed: 1, rate_limited: 3 }));
  const chart = barChart(points, series, options);
  expect(chart.total).toBe(12);
  expect(chart.summary).toBe('12 requests: 8 succeeded, 1 failed, 3 refused: rate limited');
  expect(chart.brief).toBe('12 requests: 8 succeeded, 1 failed, 3 refused');
  expect(chart.series.map((s) => [s.label, s.total])).toEqual([['Succeeded', 8], ['Failed', 1], ['Refused: rate limited', 3]]);
  expect(chart.yTicks.map((t) => t.label)).toEqual(['0', '5', '10']);
  const [empty, full, small] = chart.bars;
  expect(empty.segments).toEqual([]);
  expect(full.segments.map((s) => s.tone)).toEqual(['ok', 'failed', 'r1']);
  // Stacked without gaps from the axis up, to the full height (10 of 10).
  expect(full.segments[0].y + full.segments[0].height).toBeCloseTo(chart.plot.bottom, 1);
  for (let i = 1; i < full.segments.length; i++) expect(full.segments[i].y + full.segments[i].height).toBeCloseTo(full.segments[i - 1].y, 1);
  expect(full.segments.reduce((sum, s) => sum + s.height, 0)).toBeCloseTo(chart.plot.height, 0);
  expect(small.segments[0].height).toBeCloseTo(chart.plot.height / 5, 0);
  expect(full.label).toBe('2026-11-02: 10 requests (6 succeeded, 1 failed, 3 refused: rate limited)');
  expect(full.values).toEqual([6, 1, 3]);
  expect(empty.label).toBe('2026-11-01: 0 requests');
  expect(chart.bars.every((b) => b.x >= chart.plot.left && b.x + b.width <= chart.plot.left + chart.plot.width + 0.1)).toBe(true);
});

test('an empty series is flagged, and the hourly/daily charts label their axes', () => {
  const series = chartSeries(zeroOutcomes());
  const hours = Array.from({ length: 24 }, (_, i) => ({ start: new Date(Date.UTC(2026, 10, 22, i)), outcomes: zeroOutcomes() }));
  const hourly = hourlyChart('h', hours, series);
  expect(hourly.empty).toBe(true);
  expect(hourly.summary).toBe('0 requests');
  expect(hourly.xLabels.map((l) => l.label)).toEqual(['05:00', '11:00', '17:00', '23:00']);
  const days = Array.from({ length: 30 }, (_, i) => point(i, { ok: i }));
  const daily = dailyChart('d', days, series);
  expect(daily.empty).toBe(false);
  expect(daily.xLabels.at(-1)?.label).toBe('Nov 30');
  expect(daily.bars[29].label).toBe('Nov 30: 29 requests (29 succeeded)');
});
