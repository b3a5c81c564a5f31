// One entry per kernel family; each returns its cases (async so peers can load lazily).
import type { BenchCase } from '../harness.js';
import { elementwiseCases } from './elementwise.js';
import { matmulCases } from './matmul.js';
import { convCases } from './conv.js';
import { layerCases } from './layers.js';
import { csgCases } from './csg.js';
import { modelCases } from './model.js';
import { probeCases } from './probe.js';

export const suites: (() => Promise<BenchCase[]> | BenchCase[])[] = [elementwiseCases, matmulCases, convCases, layerCases, csgCases, modelCases, probeCases];
