import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, ID_TO_TRAIN_ID, openCityscapes, openGta5, openSegDataset } from '../src/data/cityscapes.js';
import { DataError } from '../src/data/png.js';
import { encodePng, positionImage, tempDir, writeFile } from './data-fixtures.js';

const W = 8;
const H = 6;
const root = tempDir('loaders');
afterAll(() => rmSync(root, { recursive: true, force: true }));

// GTA5's label palette: index = Cityscapes id, colours as the id's class colour (only indices matter).
const GTA_PALETTE = Array.from({ length: 34 }, (_, id) => (ID_TO_TRAIN_ID[id] === 255 ? [0, 0, 0] : [...CITYSCAPES_PALETTE[ID_TO_TRAIN_ID[id]]]));
/** Label ids covering classes and ignored ids (0 unlabelled, 1 ego vehicle, 4 static, 30 trailer). */
const idsFor = (k: number) => Array.from({ length: W * H }, (_, i) => [7, 8, 11, 26, 0, 33, 24, 1, 4, 30, 21, 23][(i + k) % 12]);
const trainIdsOf = (ids: number[]) => ids.map((id) => ID_TO_TRAIN_ID[id]);

function gta5Tree(name: string, opts: { greyTrainIds?: boolean; mismatch?: string; badValue?: string } = {}): string {
  const dir = join(root, name);
  ['00001', '00002', '00003'].forEach((id, k) => {
    const w = id === opts.mismatch ? W + 2 : W;
    writeFile(join(dir, 'images', `${id}.png`), encodePng(w, H, 2, 8, positionImage(w, H, k)));
    const ids = idsFor(k);
    if (opts.greyTrainIds) {
      const values = trainIdsOf(ids);
      if (id === opts.badValue) values[5] = 19;
      writeFile(join(dir, 'labels', `${id}.png`), encodePng(W, H, 0, 8, values));
    } else {
      writeFile(join(dir, 'labels', `${id}.png`), encodePng(W, H, 3, 8, ids, GTA_PALETTE));
    }
  });
  return dir;
}

function cityscapesTree(name: string, kind: 'labelTrainIds' | 'labelIds'): string {
  const dir = join(root, name);
  const frames = [['frankfurt', '000000_000294'], ['lindau', '000000_000019'], ['frankfurt', '000000_000576']];
  frames.forEach(([city, frame], k) => {
    const id = `${city}_${frame}`;
    writeFile(join(dir, 'leftImg8bit', 'val', city, `${id}_leftImg8bit.png`), encodePng(W, H, 2, 8, positionImage(W, H, k)));
    const ids = idsFor(k);
    const values = kind === 'labelIds' ? ids : trainIdsOf(ids);
    writeFile(join(dir, 'gtFine', 'val', city, `${id}_gtFine_${kind}.png`), encodePng(W, H, 0, 8, values));
    // The colour and instance files sit beside them in the real layout; the loader must ignore them.
    writeFile(join(dir, 'gtFine', 'val', city, `${id}_gtFine_color.png`), encodePng(W, H, 2, 8, positionImage(W, H)));
  });
  return dir;
}

test('the id → trainId table and the 19 classes follow recipe §7', () => {
  expect(CITYSCAPES_CLASSES).toHaveLength(19);
  expect(CITYSCAPES_PALETTE).toHaveLength(19);
  const mapped = Array.from(ID_TO_TRAIN_ID.entries()).filter(([, t]) => t !== 255);
  expect(mapped).toEqual([[7, 0], [8, 1], [11, 2], [12, 3], [13, 4], [17, 5], [19, 6], [20, 7], [21, 8], [22, 9], [23, 10], [24, 11], [25, 12], [26, 13], [27, 14], [28, 15], [31, 16], [32, 17], [33, 18]]);
});

describe('GTA5', () => {
  test('palette-index labels are label ids mapped to trainIds', () => {
    const ds = openGta5(gta5Tree('gta-palette'));
    expect(ds.pairs.map((p) => p.id)).toEqual(['00001', '00002', '00003']);
    const s = ds.load(1);
    expect([s.width, s.height]).toEqual([W, H]);
    expect(Array.from(s.label)).toEqual(trainIdsOf(idsFor(1)));
    expect(s.image).toEqual(positionImage(W, H, 1));
  });

  test('grey trainId labels are taken as they are', () => {
    const ds = openSegDataset(`gta5:${gta5Tree('gta-grey', { greyTrainIds: true })}`);
    expect(Array.from(ds.load(2).label)).toEqual(trainIdsOf(idsFor(2)));
  });

  test('an image/label size mismatch is reported and skipped', () => {
    const warnings: string[] = [];
    const ds = openGta5(gta5Tree('gta-mismatch', { mismatch: '00002' }), { warn: (m) => warnings.push(m) });
    expect(ds.pairs.map((p) => p.id)).toEqual(['00001', '00003']);
    expect(ds.skipped).toEqual([{ id: '00002', reason: `image ${W + 2}x${H} but label ${W}x${H}` }]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('00002');
  });

  test('a trainId label outside 0-18/255 is an error naming the file', () => {
    const ds = openGta5(gta5Tree('gta-bad', { greyTrainIds: true, badValue: '00003' }));
    expect(() => ds.load(0)).not.toThrow();
    expect(() => ds.load(2)).toThrow(/labels\/00003\.png has value 19 at pixel 5/);
  });

  test('a list file selects pairs relative to the root', () => {
    const dir = gta5Tree('gta-list');
    writeFile(join(dir, 'train.txt'), 'images/00003.png labels/00003.png\n\nimages/00001.png labels/00001.png\n');
    const ds = openGta5(dir, { list: 'train.txt' });
    expect(ds.pairs.map((p) => p.id)).toEqual(['00003', '00001']);
    expect(Array.from(ds.load(0).label)).toEqual(trainIdsOf(idsFor(2)));
    writeFile(join(dir, 'broken.txt'), 'images/00001.png\n');
    expect(() => openGta5(dir, { list: 'broken.txt' })).toThrow(/broken.txt:1: expected "image label"/);
    writeFile(join(dir, 'missing.txt'), 'images/00009.png labels/00009.png\n');
    expect(() => openGta5(dir, { list: 'missing.txt' })).toThrow(/missing file .*images\/00009.png \(.*missing.txt:1\)/);
    expect(() => openGta5(dir, { list: 'nope.txt' })).toThrow(/missing list file nope.txt/);
  });

  test('missing folders and files are named', () => {
    expect(() => openGta5(join(root, 'no-such'))).toThrow(/missing directory .*no-such \(expected the GTA5 root/);
    const dir = join(root, 'gta-nolabels');
    writeFile(join(dir, 'images', '00001.png'), encodePng(W, H, 2, 8, positionImage(W, H)));
    expect(() => openGta5(dir)).toThrow(/missing directory .*labels \(expected GTA5 labels/);
    writeFile(join(dir, 'labels', '00002.png'), encodePng(W, H, 0, 8, new Array(W * H).fill(0)));
    expect(() => openGta5(dir)).toThrow(/missing file .*labels\/00001.png \(the label of/);
  });

  test('a corrupt PNG is named when opening', () => {
    const dir = gta5Tree('gta-corrupt');
    writeFile(join(dir, 'labels', '00002.png'), 'garbage');
    expect(() => openGta5(dir)).toThrow(DataError);
    expect(() => openGta5(dir)).toThrow(/corrupt PNG .*labels\/00002.png/);
  });
});

describe('Cityscapes', () => {
  test('labelTrainIds, sorted by city then name, extra gtFine files ignored', () => {
    const ds = openCityscapes(cityscapesTree('cs-train-ids', 'labelTrainIds'));
    expect(ds.pairs.map((p) => p.id)).toEqual(['frankfurt_000000_000294', 'frankfurt_000000_000576', 'lindau_000000_000019']);
    expect(Array.from(ds.load(1).label)).toEqual(trainIdsOf(idsFor(2)));
    expect(ds.load(2).image).toEqual(positionImage(W, H, 1));
  });

  test('labelIds are mapped to trainIds', () => {
    const ds = openSegDataset(`cityscapes:${cityscapesTree('cs-ids', 'labelIds')}`, { split: 'val' });
    expect(Array.from(ds.load(0).label)).toEqual(trainIdsOf(idsFor(0)));
  });

  test('a list file of image/label pairs', () => {
    const dir = cityscapesTree('cs-list', 'labelIds');
    writeFile(join(dir, 'val.txt'), 'leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png\n');
    const ds = openCityscapes(dir, { list: 'val.txt' });
    expect(ds.pairs).toHaveLength(1);
    expect(Array.from(ds.load(0).label)).toEqual(trainIdsOf(idsFor(1)));
  });

  test('missing split folder and missing label are named', () => {
    const dir = cityscapesTree('cs-missing', 'labelTrainIds');
    expect(() => openCityscapes(dir, { split: 'train' })).toThrow(/missing directory .*leftImg8bit\/train \(expected Cityscapes leftImg8bit\/train/);
    rmSync(join(dir, 'gtFine', 'val', 'lindau', 'lindau_000000_000019_gtFine_labelTrainIds.png'));
    expect(() => openCityscapes(dir)).toThrow(/missing file .*lindau_000000_000019_gtFine_labelTrainIds.png \(or lindau_000000_000019_gtFine_labelIds.png\)/);
  });

  test('a bad spec is explained', () => {
    expect(() => openSegDataset('kitti:/data')).toThrow(/expected gta5:DIR or cityscapes:DIR/);
  });
});
