import { mapInSlices } from '../../src/lib/slices';

describe('mapInSlices', () => {
  it.each([0, 1, 999, 1000, 1001, 3500])('maps %i items in order, like Array.prototype.map', async (count) => {
    const items = Array.from({ length: count }, (_, i) => i);
    expect(await mapInSlices(items, (i) => `#${i}`)).toEqual(items.map((i) => `#${i}`));
  });

  it('lets the event loop turn between slices', async () => {
    let turns = 0;
    let mapping = true;
    const turn = () => {
      if (!mapping) return;
      turns += 1;
      setImmediate(turn);
    };
    setImmediate(turn);
    await mapInSlices(Array.from({ length: 5000 }, (_, i) => i), (i) => i * 2, 1000);
    mapping = false;
    // Five slices, four turns between them.
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});
