export * from './module.js';
export * from './layers.js';
export * from './resnet.js';
export * from './deeplab.js';
export * from './classifier.js';
