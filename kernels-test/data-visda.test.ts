import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGENET_NORM } from '../src/data/augment.js';
import { clsEvalBatches, clsTrainBatch, visdaSource } from '../src/data/cls-sampler.js';
import { openClsDataset, openVisda, VISDA_CLASSES } from '../src/data/visda.js';
import { encodeJpeg, encodePng, positionImage, tempDir, writeFile } from './data-fixtures.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A flat colour that tells the image apart after JPEG. */
const flat = (w: number, h: number, v: number) => new Uint8Array(w * h * 3).fill(v);

/** A tiny VisDA-17 tree in the real layout: renders as PNG under train/, photos as JPEG under validation/. */
function visdaTree(): string {
  const root = tempDir('visda');
  dirs.push(root);
  const train = [['aeroplane/src_1_02691156_a__0.png', 0], ['knife/src_1_03624134_b__1.png', 5], ['truck/src_2_04467665_c__2.png', 11]] as const;
  train.forEach(([rel], i) => writeFile(join(root, 'train', rel), encodePng(6, 4, 2, 8, positionImage(6, 4, i))));
  writeFile(join(root, 'train', 'image_list.txt'), train.map(([rel, l]) => `${rel} ${l}`).join('\n') + '\n');
  const val = [['bus/n03769881_1.jpg', 2], ['person/n00007846_2.jpg', 7]] as const;
  val.forEach(([rel], i) => writeFile(join(root, 'validation', rel), encodeJpeg(10, 8, flat(10, 8, 60 + 100 * i), 95)));
  // CRLF line ends and a blank line, as a list edited on Windows may have.
  writeFile(join(root, 'validation', 'image_list.txt'), val.map(([rel, l]) => `${rel} ${l}`).join('\r\n') + '\r\n\r\n');
  return root;
}

test('the twelve classes of the recipe, in order', () => {
  expect(VISDA_CLASSES).toEqual(['aeroplane', 'bicycle', 'bus', 'car', 'horse', 'knife', 'motorcycle', 'person', 'plant', 'skateboard', 'train', 'truck']);
});

test('visda:DIR reads train/ (PNG) for --train and validation/ (JPEG) for --val, with their labels', () => {
  const root = visdaTree();
  const train = openClsDataset(`visda:${root}`, 'train');
  expect([train.name, train.root, train.classNames.length]).toEqual(['visda-train', join(root, 'train'), 12]);
  expect(train.items.map((it) => [it.path, it.label])).toEqual([
    [join(root, 'train/aeroplane/src_1_02691156_a__0.png'), 0],
    [join(root, 'train/knife/src_1_03624134_b__1.png'), 5],
    [join(root, 'train/truck/src_2_04467665_c__2.png'), 11],
  ]);
  const second = train.load(1);
  expect([second.width, second.height, second.label]).toEqual([6, 4, 5]);
  expect(Array.from(second.image)).toEqual(Array.from(positionImage(6, 4, 1)));

  const val = openClsDataset(`visda:${root}`, 'val');
  expect([val.name, val.items.length, val.items.map((it) => it.label)]).toEqual(['visda-validation', 2, [2, 7]]);
  for (const i of [0, 1]) {
    const img = val.load(i);
    expect([img.width, img.height, img.image.length]).toEqual([10, 8, 240]);
    expect(img.image.every((v) => Math.abs(v - (60 + 100 * i)) <= 2)).toBe(true);
  }
  // A split root works too, whichever role.
  expect(openVisda(join(root, 'validation'), 'train').items.map((it) => it.label)).toEqual([2, 7]);
});

test('a VisDA split feeds the classification batches: RandAugment views for training, centre crops for evaluation', () => {
  const root = visdaTree();
  const train = visdaSource(openVisda(root, 'train'));
  const view = { resize: 4, crop: 4, randAugment: { n: 1, m: 6, translateMax: 2 } };
  const batch = clsTrainBatch(train, 3, 0, 0, view, IMAGENET_NORM, true);
  expect(Array.from(batch.labels)).toEqual(batch.indices.map((i) => [0, 5, 11][i]));
  expect([batch.images.length, batch.keys!.length, batch.images.every(Number.isFinite)]).toEqual([3 * 48, 3 * 48, true]);
  const val = [...clsEvalBatches(visdaSource(openVisda(root, 'val')), 8, { ...view, randAugment: null }, IMAGENET_NORM)];
  expect(val.map((b) => [b.n, Array.from(b.labels)])).toEqual([[2, [2, 7]]]);
});

test('each bad input is named: the list line, the file, the label', () => {
  const root = visdaTree();
  const list = join(root, 'train', 'image_list.txt');
  const good = 'aeroplane/src_1_02691156_a__0.png 0';
  const cases: [string, RegExp][] = [
    [`${good}\nknife/src_1_03624134_b__1.png 12\n`, /image_list\.txt:2: label 12 of knife\/src_1_03624134_b__1\.png is outside 0\.\.11$/],
    [`${good}\n\ntruck/src_2_04467665_c__2.png -1\n`, /image_list\.txt:3: label -1 of truck\/src_2_04467665_c__2\.png is outside 0\.\.11$/],
    [`${good}\nknife/src_1_03624134_b__1.png knife\n`, /image_list\.txt:2: expected "relpath label" with an integer label, got "knife\/src_1_03624134_b__1\.png knife"$/],
    [`knife/src_1_03624134_b__1.png\n`, /image_list\.txt:1: expected "relpath label" with an integer label, got "knife\/src_1_03624134_b__1\.png"$/],
    [`${good} extra\n`, /image_list\.txt:1: expected "relpath label"/],
    [`${good}\ncar/missing.png 3\n`, /missing file: .*train\/car\/missing\.png \(.*image_list\.txt:2\)$/],
    ['\n\n', /image_list\.txt: no images listed$/],
  ];
  for (const [text, message] of cases) {
    writeFile(list, text);
    expect(() => openVisda(root, 'train')).toThrow(message);
  }
  // A corrupt image is found when loaded, named with its list line.
  writeFile(join(root, 'validation', 'person/n00007846_2.jpg'), encodeJpeg(10, 8, flat(10, 8, 9)).subarray(0, 100));
  const val = openVisda(root, 'val');
  expect(() => val.load(1)).toThrow(/^corrupt JPEG .*person\/n00007846_2\.jpg: .* \(.*validation\/image_list\.txt:2\)$/);
  expect(val.load(0).label).toBe(2);
});

test('missing folders and lists, and other specs, are explained', () => {
  const root = visdaTree();
  rmSync(join(root, 'validation', 'image_list.txt'));
  expect(() => openVisda(root, 'val')).toThrow(`missing file: ${join(root, 'validation', 'image_list.txt')} (the image list: "relpath label" lines)`);
  expect(() => openVisda(join(root, 'nowhere'), 'train')).toThrow(/missing directory .*nowhere \(expected VisDA-17's train\/ and validation\/, or one of them\)/);
  expect(() => openClsDataset(`gta5:${root}`, 'train')).toThrow('data set "gta5:' + root + '": expected visda:DIR');
});
